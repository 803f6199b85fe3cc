// Package testserver is the one harness of the tests that run real
// processes (the root package, cmd/handoff, the examples):
//
//   - Build and Binary build a main package once per test binary, into one
//     temporary directory that Main removes at the end;
//   - FreePort, FreeAddr and FreeUDPAddr ask the kernel for a loopback port;
//   - SyncBuffer collects a process's output from several goroutines;
//   - PIDs kills every process a test started or learned of, by pid, at
//     cleanup; WaitExit waits for a process that need not be our child, on a
//     pidfd (Linux only);
//   - Log and StartProc follow a program whose generations announce
//     themselves on stderr; Start, Launch and Server follow one that reports
//     on a NOTIFY_SOCKET, as systemd would (not on Windows);
//   - Hangup and Terminate signal a generation, Proc.Upgrade upgrades one;
//     Nobody, AsNobody and CopyForNobody run a process as another user;
//   - FDs, Environ, Stat, Status, Exe, Processes, Children and NetTable read
//     another process (or the kernel's socket tables) from /proc; ReadPID
//     reads a PID file;
//   - KeepAlive is a raw HTTP/1.1 client on one connection, Hold and Held a
//     set of them; the testload subpackage runs the load generator.
//
// Tests wait on events with deadlines, never on sleeps.
package testserver

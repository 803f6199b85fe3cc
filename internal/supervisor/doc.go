// Package supervisor is `handoff run`: a master process that owns a
// program's listening sockets for its whole life and runs generations of
// the program on them, so that upgrades drop no request and the PID that
// systemd, a container runtime or a PID file knows never changes.
//
// # Protocol
//
// Each worker gets the sockets at fds 3.. by systemd socket activation
// (LISTEN_FDS, LISTEN_FDNAMES from the --listen names, and a LISTEN_PID
// that is the worker's own pid: the worker is started as this binary in
// its shim role, which sets LISTEN_PID and execs the program keeping the
// pid), NOTIFY_SOCKET pointing at a datagram socket of its own in a private
// directory (on Linux 0711 with the socket 0666 under a random name, so a
// worker that drops privileges can notify; see notify_socket.go), and HANDOFF_PROTOCOL, HANDOFF_GENERATION,
// HANDOFF_SUPERVISOR_PID and HANDOFF_CONTROL (see internal/proto). The
// environment is built by internal/launch, which the library's
// self-upgrade uses too, so both parents say the same. A Go
// program built on the handoff library therefore runs unchanged, and so
// does anything that speaks systemd's protocols.
//
// Notifications follow systemd with NotifyAccess=all: a datagram counts
// when it comes from the worker or a descendant (on Linux the kernel vouches
// for the sender's pid, checked against the /proc parent chain and the
// worker's process group; a sender of another uid counts only while it is
// a live descendant). READY=1, STATUS=, ERRNO=, MAINPID= (Linux only: a
// live descendant of the worker; signals then go to that process too),
// EXTEND_TIMEOUT_USEC= (pushes the readiness deadline), WATCHDOG=1 and
// WATCHDOG=trigger, and BARRIER=1 (its fd is closed at once, so
// systemd-notify returns) are honoured; RELOADING=1 and STOPPING=1 are
// accepted and have no effect.
//
// # Upgrades and failures
//
// An upgrade looks PROGRAM up on disk again, starts the new generation,
// waits for readiness, then sends the drain signal to the old one and
// SIGKILLs its process group after the drain timeout. Until the new
// generation is ready nothing happens to the old one, so a new program
// that is missing, exits, crashes or is not ready in time costs no request:
// it is killed and the upgrade reports why, with its last stderr lines.
// During the probation window after cutover, a new worker that dies makes
// the supervisor start the previous generation's program again ("rolled
// back"). On Linux that is the exact previous bytes of a binary, held open
// and exec'd through /proc/<supervisor pid>/fd/N even if the file was
// replaced or deleted; scripts (#!) and every program on other systems are
// restarted by path, so deploy each version to a path of its own there.
// Crash restarts run the crashed generation's program the same way.
//
// One upgrade runs at a time, and the newest trigger wins: a request for
// another while one runs (HUP, USR2, `handoff upgrade`, at any stage)
// queues one follow-up upgrade that looks the program up on disk again when
// the running one ends; any number of requests meanwhile share that one
// follow-up, and each caller is told it waited and gets the follow-up's
// events and result (trigger.go). Upgrades are refused only while stopping.
//
// A serving worker that exits on its own is restarted after a delay that
// doubles with each consecutive crash (100ms to 10s); after --crash-limit
// consecutive crashes the supervisor drains the rest and exits with status
// 1 (ErrCrashLoop), since a supervisor that restarts forever hides the
// problem from whoever supervises it.
//
// # Handover
//
// A worker that can pass live connections or state to its successor
// (package internal/handover) adds X_HANDOFF_HANDOVER=<absolute path of
// its handover socket>, and X_HANDOFF_STATE=1 if it will send a state
// blob, to its READY=1 datagram. When an upgrade (or a rollback, or the
// undo of a rolling upgrade) starts a worker for a slot whose current
// worker is ready, alive and made that announcement, the new worker gets
// HANDOFF_HANDOVER_SOCKET=<that path>, HANDOFF_HANDOVER_PID=<that worker's
// pid, or its MAINPID=> and, if announced, HANDOFF_STATE=1. Slot i of the
// new generation is introduced to slot i of the old one, with either
// strategy. A worker restarted after a crash, or started into an empty
// slot, gets none of them, and neither ever comes from the supervisor's
// own environment. A path that is not absolute, holds a NUL or is longer
// than a unix socket address allows is logged as a warning and not
// relayed; the worker is not failed for it.
//
// A takeover (Config.Takeover) extends this to the first generation of a
// newcomer supervisor: the serving supervisor introduces its ready workers
// on the takeover channel, and the newcomer's workers are introduced to
// them slot by slot (takeover_intro.go). A supervisor with a takeover path
// gives its workers HANDOFF_HANDOVER_PEER=uid, so that they accept a
// successor of their uid that does not descend from it.
//
// That is all the supervisor does: the new worker dials the socket before
// it reports READY=1, and each side checks the other's credentials from
// the kernel. The old worker learns of its successor from the dial, and is
// told nothing but the usual drain signal after the cutover.
//
// # Signals
//
// TERM, INT and QUIT drain every worker and exit (a second one SIGKILLs
// them at once); HUP and USR2 upgrade; USR1 is forwarded to every worker;
// WINCH drains every worker but keeps the sockets (connections queue in the
// kernel) until HUP or an upgrade starts a generation again; VTALRM
// re-executes the supervisor's own binary in place (Linux, as UpgradeSelf:
// selfupgrade_linux.go).
//
// # Process tree
//
// Each worker leads its own process group, so a terminal's Ctrl-C reaches
// only the supervisor, and the kill at the drain deadline takes the
// worker's helpers along. Everything a worker started ends with it: when
// it exits or is killed, its process group and its MAINPID= process (only
// believed for a live descendant, and checked by pid and start time before
// every signal) are killed, and at stop any orphan left is killed too; a
// program that daemonises must therefore run in the foreground (tree.go). On Linux the supervisor is a child subreaper and
// reaps orphaned descendants of its workers (and every zombie when it is
// PID 1 in a container), and workers get the drain signal as their
// parent-death signal, so they drain and exit if the supervisor is killed.
// Elsewhere orphans go to init as usual and workers outlive a killed
// supervisor until they are stopped.
//
// # Systems
//
// Unix only. On Windows, which cannot pass listening sockets to a child
// process nor speak sd_notify, the package builds but New returns
// ErrNotSupported; ParseListen, ParseReadiness and Config are there so a
// command's flags parse the same everywhere.
package supervisor

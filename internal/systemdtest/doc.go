// Package systemdtest boots a real systemd as PID 1 of private namespaces,
// so that tests can run units under the service manager users run them
// under: socket units, Type=notify, the fd store, Restart=.
//
// Boot runs `unshare --fork --pid --mount --uts --ipc --net --cgroup
// --mount-proc --propagation private` with a small script that mounts fresh
// tmpfs on /run, /tmp and /var/tmp, binds the test's own directory back at
// its path, masks the units that would touch the machine, and execs
// /lib/systemd/systemd --system with a target of its own that pulls in
// nothing. Tests drive it with Systemctl and Exec (nsenter -a) and reach
// its loopback with Dial (a thread that enters the network namespace).
// Cleanup kills the namespace's PID 1 by its pid; the namespace dies with it.
//
// The trap this package exists to avoid: a systemd booted on the machine's
// own /tmp runs systemd-tmpfiles, which empties it (every other test's
// files, every build cache). Every boot therefore puts a canary file in the
// real /tmp and fails the test loudly if it is gone after the boot or at
// cleanup.
//
// Units installed by Install should say DefaultDependencies=no: otherwise
// starting them pulls in sysinit.target and the machine's boot services.
// It is Linux only; elsewhere the package is empty.
package systemdtest

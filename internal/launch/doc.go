// Package launch is the parent side of starting a generation, shared by the
// library's self-upgrade and the supervisor (handoff run): what the child is
// told in its environment (Child), the LISTEN_PID shim it is started through
// (ShimPath), the order of the descriptors it receives (Order), the private
// notify socket it reports on and the READY=1 it must send, with the protocol
// version check (Notify, CheckReady), the PID file (WritePIDFile) and the
// clock RELOADING=1 carries (MonotonicUsec).
//
// The names and formats themselves live in internal/proto (HANDOFF_*),
// internal/activation (LISTEN_*) and internal/sdnotify (the datagrams); this
// package is where a parent puts them together, so that a new protocol
// variable is added in one place for both parents.
//
// Child, Order and Alive are built for unix systems only. Everything else
// builds everywhere, so that a caller's portable code can use the PID file,
// the clock and the readiness check; on Windows ListenNotify fails with
// sdnotify.ErrNotSupported. A generation cannot be started there at all:
// Go's Windows process API passes no sockets, and sd_notify needs unix
// datagram sockets.
package launch

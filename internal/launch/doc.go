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
// What needs unix descriptors and processes (Child, Order's fds, Alive) is
// built for unix systems only; the PID file, the clock, the shim path and
// the readiness check build everywhere. On Windows a generation cannot be
// started this way at all: Go's Windows process API passes no sockets, and
// sd_notify needs unix datagram sockets.
package launch

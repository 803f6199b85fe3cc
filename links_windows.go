//go:build windows

package handoff

// openLinks returns no links on Windows: a process there cannot receive
// sockets from another, so it serves plain (fresh sockets; Ready, Draining,
// Drain and Stop work; Upgrade returns ErrNotSupported). Importing the
// package runs nothing there either: the LISTEN_PID shim is Unix-only.
func openLinks(*Handoff) (links, error) { return nil, nil }

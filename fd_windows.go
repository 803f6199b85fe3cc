//go:build windows

package handoff

// closeFD is never called on Windows: without links, a socket keeps no
// descriptor of its own (socket.fd stays -1).
func closeFD(int) {}

//go:build unix

package sdnotify

import (
	"errors"
	"net"
	"runtime"
	"strings"
)

// unixAddr turns a NOTIFY_SOCKET value into a datagram address. A leading
// '@' means the Linux abstract namespace; elsewhere the kernel would treat
// it as a relative file name, which is never what a NOTIFY_SOCKET meant, so
// it is refused rather than silently misrouted.
func unixAddr(socket string) (*net.UnixAddr, error) {
	if socket == "" {
		return nil, ErrNoSocket
	}
	if strings.HasPrefix(socket, "@") {
		if runtime.GOOS != "linux" {
			return nil, errors.New("abstract socket " + socket + " not supported on " + runtime.GOOS)
		}
		if len(socket) == 1 {
			return nil, errors.New("empty abstract socket name")
		}
	}
	// net maps a leading '@' to a leading NUL on Linux, which is exactly
	// systemd's convention.
	return &net.UnixAddr{Name: socket, Net: "unixgram"}, nil
}

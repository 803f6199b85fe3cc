//go:build unix && !linux

package sdnotify

import (
	"net"

	"golang.org/x/sys/unix"
)

// oobSize fits as many fds as Linux would pass; other systems report
// nothing else we use.
var oobSize = unix.CmsgSpace(maxFDs * 4)

// enableCredentials does nothing: the BSDs' per-datagram credentials have
// different semantics from Linux's, and PID/UID are documented as unknown
// off Linux.
func enableCredentials(*net.UnixConn) error { return nil }

func credentials(*unix.SocketControlMessage) (pid, uid int, ok bool) {
	return 0, 0, false
}

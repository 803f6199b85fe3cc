package sdnotify

import (
	"net"

	"golang.org/x/sys/unix"
)

// oobSize fits credentials plus the most fds Linux passes in one datagram,
// so a full SCM_RIGHTS payload is never truncated and lost from our count.
var oobSize = unix.CmsgSpace(unix.SizeofUcred) + unix.CmsgSpace(maxFDs*4)

// enableCredentials turns on SO_PASSCRED so the kernel attaches the
// sender's real pid/uid/gid to every datagram, even from senders that did
// not send credentials themselves; the supervisor needs the pid to tell
// which generation is speaking.
func enableCredentials(conn *net.UnixConn) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	return serr
}

func credentials(m *unix.SocketControlMessage) (pid, uid int, ok bool) {
	if m.Header.Type != unix.SCM_CREDENTIALS {
		return 0, 0, false
	}
	c, err := unix.ParseUnixCredentials(m)
	if err != nil {
		return 0, 0, false
	}
	return int(c.Pid), int(c.Uid), true
}

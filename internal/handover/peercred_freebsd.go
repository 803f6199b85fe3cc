package handover

import "golang.org/x/sys/unix"

// peerCred asks the kernel who is at the other end of a unix stream socket
// (LOCAL_PEERCRED). The xucred the kernel returns has no pid field that
// golang.org/x/sys exposes, so the pid is unknown (-1).
func peerCred(fd int) (uid, pid int, err error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, -1, err
	}
	return int(x.Uid), -1, nil
}

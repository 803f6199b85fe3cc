package handover

import "golang.org/x/sys/unix"

// peerCred asks the kernel who is at the other end of a unix stream socket:
// LOCAL_PEERCRED for the uid, LOCAL_PEERPID for the pid.
func peerCred(fd int) (uid, pid int, err error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, -1, err
	}
	pid, err = unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID)
	if err != nil {
		pid = -1
	}
	return int(x.Uid), pid, nil
}

//go:build darwin || freebsd

package control

import "golang.org/x/sys/unix"

// peerUID asks the kernel who is at the other end of a unix stream socket
// (LOCAL_PEERCRED: the credentials the peer had when it connected).
func peerUID(fd int) (int, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(x.Uid), nil
}

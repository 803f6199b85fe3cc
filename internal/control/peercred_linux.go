package control

import "golang.org/x/sys/unix"

// peerUID asks the kernel who is at the other end of a unix stream socket.
// SO_PEERCRED reports the credentials the peer had when it connected, so a
// client cannot lie about them.
func peerUID(fd int) (int, error) {
	c, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(c.Uid), nil
}

package handover

import "golang.org/x/sys/unix"

// peerCred asks the kernel who is at the other end of a unix stream socket.
// SO_PEERCRED reports the credentials the peer had when it connected (or,
// for the dialling side, when the listener called listen), so a peer cannot
// lie about them.
func peerCred(fd int) (uid, pid int, err error) {
	c, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, -1, err
	}
	return int(c.Uid), int(c.Pid), nil
}

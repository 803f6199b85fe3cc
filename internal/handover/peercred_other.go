//go:build !linux && !darwin && !freebsd

package handover

// peerCred is not implemented here: without the peer's uid the channel
// cannot tell a generation of its own program from any other local process,
// so it refuses to run rather than trust it.
func peerCred(fd int) (uid, pid int, err error) {
	return -1, -1, ErrUnsupported
}

//go:build !linux && !darwin && !freebsd

package control

import "errors"

// peerUID cannot ask this kernel who is at the other end, so the server
// refuses every client and the client every server: the supervisor is
// Linux, macOS and FreeBSD only.
func peerUID(int) (int, error) {
	return -1, errors.New("peer credentials are not supported on this system")
}

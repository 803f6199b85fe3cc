//go:build unix

package handover

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/sockets"
)

// supported: descriptors travel over unix sockets here (SCM_RIGHTS).
const supported = true

// msgCtrunc is the recvmsg flag for control data cut short.
const msgCtrunc = unix.MSG_CTRUNC

// oobSpace is the control buffer that holds n descriptors.
func oobSpace(n int) int { return unix.CmsgSpace(4 * n) }

// unixRights encodes fds as one SCM_RIGHTS control message.
func unixRights(fds []int) []byte {
	if len(fds) == 0 {
		return nil
	}
	return unix.UnixRights(fds...)
}

// parseRights returns the descriptors of every SCM_RIGHTS message in oob,
// in order; other control messages are skipped.
func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %v", ErrProtocol, err)
	}
	var all []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			closeAll(all)
			return nil, fmt.Errorf("%w: SCM_RIGHTS: %v", ErrProtocol, err)
		}
		all = append(all, fds...)
	}
	return all, nil
}

func closeFD(fd int) { unix.Close(fd) }

// dupRaw duplicates the descriptor behind rc (F_DUPFD_CLOEXEC, no Fd()).
func dupRaw(rc syscall.RawConn) (int, error) { return sockets.Dup(rc) }

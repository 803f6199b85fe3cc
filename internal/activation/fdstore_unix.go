//go:build unix

package activation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Store hands fds to the service manager's fd store: one datagram
// "FDSTORE=1\nFDNAME=name" to socket (a NOTIFY_SOCKET value, "@name" for
// the abstract namespace) carrying them by SCM_RIGHTS. systemd keeps them
// across restarts of the service (until it is stopped for good) and passes
// them back at the next start as LISTEN_FDS, named name in LISTEN_FDNAMES;
// it ignores a descriptor it already holds. The fds stay open here.
//
// Store never blocks past ctx: a service manager that does not read its
// socket costs a bounded wait and an error, never a hung caller. Nothing
// confirms that the manager kept the fds (FileDescriptorStoreMax=0 drops
// them with a warning in its log); callers that must know check with the
// manager.
func Store(ctx context.Context, socket, name string, fds ...int) error {
	if socket == "" {
		return ErrNoFDStore
	}
	if err := ValidName(name); err != nil {
		return fmt.Errorf("fd store: %w", err)
	}
	if len(fds) == 0 || len(fds) > 253 {
		return fmt.Errorf("fd store %s: %d fds: want 1 to 253 in one message", name, len(fds))
	}
	if strings.HasPrefix(socket, "@") && len(socket) == 1 {
		return errors.New("fd store: empty abstract socket name")
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("fd store %s: %w", name, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("fd store %s: %w", name, err)
	}
	msg := []byte("FDSTORE=1\nFDNAME=" + name)
	oob := unix.UnixRights(fds...)
	var serr error
	// WriteMsgUnix refuses a connected datagram socket; sendmsg through
	// the poller keeps the deadline working.
	werr := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), msg, oob, nil, 0)
		return serr != unix.EAGAIN
	})
	if werr != nil {
		return fmt.Errorf("fd store %s: %w", name, werr)
	}
	if serr != nil {
		return fmt.Errorf("fd store %s: sendmsg: %w", name, serr)
	}
	return nil
}

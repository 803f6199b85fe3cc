//go:build unix

package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Send sends msg as one datagram to socket, which is a filesystem path or
// "@name" for the Linux abstract namespace, in the form of NOTIFY_SOCKET.
//
// Each call uses a fresh, unbound, close-on-exec SOCK_DGRAM unix socket, so
// nothing is shared between calls or inherited by children. msg is sent as
// is; build it with Format to be sure the receiver accepts it. On Linux the
// kernel attaches the caller's pid/uid/gid when the receiver asked for them.
//
// Send returns ErrNoSocket for an empty socket, an error for "@name" on
// systems without an abstract namespace, and a wrapped dial or write error
// otherwise (for example when nobody listens at socket). Like sd_notify it
// may block if the receiver's queue is full; use Barrier for a bounded wait.
func Send(socket string, msg []byte) error {
	if err := send(context.Background(), socket, msg, nil); err != nil {
		if errors.Is(err, ErrNoSocket) {
			return ErrNoSocket
		}
		return fmt.Errorf("sdnotify: send: %w", err)
	}
	return nil
}

// SendContext is Send bounded by ctx: it gives up, with an error wrapping
// ctx.Err(), when ctx is done before the receiver's queue has room. A
// process that must never block on its service manager (a supervisor's
// loop) sends with a deadline.
func SendContext(ctx context.Context, socket string, msg []byte) error {
	if err := send(ctx, socket, msg, nil); err != nil {
		if errors.Is(err, ErrNoSocket) {
			return ErrNoSocket
		}
		return fmt.Errorf("sdnotify: send: %w", err)
	}
	return nil
}

// aLongTimeAgo is a deadline guaranteed to be in the past, to abort I/O now.
var aLongTimeAgo = time.Unix(1, 0)

// send writes one datagram, optionally carrying fds by SCM_RIGHTS, and gives
// up when ctx is done.
func send(ctx context.Context, socket string, msg []byte, fds []int) error {
	addr, err := unixAddr(socket)
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixgram", addr.String())
	if err != nil {
		return err
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(aLongTimeAgo) })
	defer stop()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	// WriteMsgUnix refuses connected datagram sockets, so sendmsg is issued
	// through the poller directly; that keeps deadlines (and so ctx) working.
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	werr := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), msg, oob, nil, 0)
		return serr != unix.EAGAIN
	})
	if werr != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if werr != nil {
		return werr
	}
	if serr != nil {
		return fmt.Errorf("sendmsg: %w", serr)
	}
	return nil
}

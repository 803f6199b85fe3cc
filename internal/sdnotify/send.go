//go:build unix

package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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

// Barrier implements BARRIER=1 the way sd_notify_barrier and systemd-notify
// do: it creates a pipe, sends "BARRIER=1" with the pipe's write end
// attached (SCM_RIGHTS), closes its own copy of the write end, and waits for
// the read end to report hang-up. That happens only once the receiver has
// closed the fd, and receivers process datagrams in order, so a nil return
// means every datagram this process sent earlier to socket has been
// received.
//
// Barrier returns ErrNoSocket for an empty socket; an error wrapping
// ctx.Err() if ctx is done first (whether while sending or while waiting);
// and a wrapped error if the pipe or the send fails.
func Barrier(ctx context.Context, socket string) error {
	if socket == "" {
		return ErrNoSocket
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("sdnotify: barrier: %w", err)
	}
	defer r.Close()
	err = send(ctx, socket, []byte("BARRIER=1"), []int{int(w.Fd())})
	// Our copy must go before waiting, or the pipe could never hang up.
	w.Close()
	if err != nil {
		return fmt.Errorf("sdnotify: barrier: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		r.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { r.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	var buf [64]byte
	for {
		_, err := r.Read(buf[:])
		switch {
		case err == nil:
			// Nobody should write to the pipe; ignore it and keep waiting for
			// the hang-up, which is the only signal that counts.
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
			return fmt.Errorf("sdnotify: barrier: waiting for receiver: %w", ctx.Err())
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The deadline from ctx.Deadline fired a hair before ctx itself
			// noticed; report it the same way.
			return fmt.Errorf("sdnotify: barrier: waiting for receiver: %w", context.DeadlineExceeded)
		default:
			return fmt.Errorf("sdnotify: barrier: waiting for receiver: %w", err)
		}
	}
}

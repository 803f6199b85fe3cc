//go:build unix

package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

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

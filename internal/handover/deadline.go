package handover

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// longAgo is a deadline that has passed: setting it wakes blocked I/O now.
var longAgo = time.Unix(1, 0)

// abortTimeout bounds the best-effort abort frame that Close writes: if the
// peer is not reading, closing the socket tells it just as well.
const abortTimeout = 250 * time.Millisecond

// interrupt makes the end of ctx interrupt blocking I/O by setting a past
// deadline through set (a SetDeadline method of the socket). Call the
// returned function once the I/O is over: it clears the deadline it set and
// returns ctx's error when ctx ended meanwhile, which callers report instead
// of the "i/o timeout" it caused.
func interrupt(ctx context.Context, set func(time.Time) error) (done func() error) {
	if ctx.Done() == nil {
		return func() error { return nil }
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(longAgo)
		close(fired)
	})
	return func() error {
		if stop() {
			return nil
		}
		<-fired
		set(time.Time{})
		return ctx.Err()
	}
}

// prefer makes an error that a cancelled context provoked (an "i/o
// timeout" from the deadline interrupt set) say so, and wrap ctx's error.
func prefer(cause, err error) error {
	if cause == nil || err == nil || errors.Is(err, cause) {
		return err
	}
	return fmt.Errorf("%w: %w", cause, err)
}

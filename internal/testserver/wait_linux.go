package testserver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// WaitExit waits for pid to exit (it need not be our child) on a pidfd,
// until ctx is done. A pid that does not exist has exited.
func WaitExit(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	for {
		ms := -1
		if deadline, ok := ctx.Deadline(); ok {
			ms = int(time.Until(deadline).Milliseconds()) + 1
			if ms <= 0 {
				return fmt.Errorf("pid %d still running: %w", pid, context.DeadlineExceeded)
			}
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll pidfd %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// WaitGone is WaitExit for a test, within d: it fails the test when pid
// still runs, and otherwise marks it gone in pids (when not nil).
func WaitGone(t testing.TB, pids *PIDs, pid int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := WaitExit(ctx, pid); err != nil {
		t.Fatal(err)
	}
	if pids != nil {
		pids.Gone(pid)
	}
}

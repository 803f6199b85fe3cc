//go:build linux

package handoff_test

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitExit waits until pid has exited, by polling a pidfd (which becomes
// readable when the process ends: an event, not a guess).
func waitExit(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("pid %d still running after %v", pid, d)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("poll pidfd %d: %v", pid, err)
		}
		if n > 0 {
			return
		}
	}
}

package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// retire sends SIGTERM to the draining generation pid, and SIGKILL
// retireGrace later if it is still there (see retire.go). A pid that no
// longer names it is errNotDraining.
func retire(pid int, log *slog.Logger) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return errNotDraining
	}
	if err != nil {
		return fmt.Errorf("pidfd_open: %w", err)
	}
	// Opened first, checked second: if the pid is the generation now, the
	// pidfd names it for good.
	theirs, ok1 := startTime(pid)
	ours, ok2 := startTime(os.Getpid())
	if !ok1 || !ok2 || theirs > ours {
		unix.Close(fd)
		if !ok1 {
			return nil // gone meanwhile
		}
		return errNotDraining
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0); err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.ESRCH) {
			return errNotDraining
		}
		return fmt.Errorf("SIGTERM: %w", err)
	}
	go func() {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		deadline := time.Now().Add(retireGrace)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			n, err := unix.Poll(fds, int(left.Milliseconds())+1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err == nil && n > 0 {
				return // it exited
			}
			if err != nil {
				break
			}
		}
		if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err == nil {
			log.Warn("handoff: a retired generation was still running after SIGTERM: killed", "pid", pid, "grace", retireGrace)
		}
	}()
	return nil
}

// startTime is when pid started, in clock ticks since boot (field 22 of
// /proc/<pid>/stat).
func startTime(pid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // field 3 (state) onwards
	if len(f) < 20 {
		return 0, false
	}
	t, err := strconv.ParseUint(f[19], 10, 64)
	return t, err == nil
}

//go:build !linux

package testserver

import (
	"context"
	"errors"
	"testing"
	"time"
)

// errNoPidfd: waiting for a process that is not our child needs a pidfd.
var errNoPidfd = errors.New("testserver: waiting for a process that is not our child needs a pidfd (Linux only)")

// WaitExit needs a pidfd: outside Linux it returns an error at once.
func WaitExit(ctx context.Context, pid int) error { return errNoPidfd }

// WaitGone needs a pidfd: outside Linux it skips the test.
func WaitGone(t testing.TB, pids *PIDs, pid int, d time.Duration) {
	t.Helper()
	t.Skip(errNoPidfd)
}

//go:build linux

package handoff_test

import (
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// waitExit waits until pid has exited, on a pidfd (an event, not a guess).
func waitExit(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	testserver.WaitGone(t, nil, pid, d)
}

package testserver

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Tally counts what a test's load saw: the answers of each pid and the
// failures (the first ten messages kept), and lets the test wait for a
// pid's first answer, an event rather than a poll. Safe for concurrent use.
type Tally struct {
	mu     sync.Mutex
	pids   map[int]int64
	failed int64
	errs   []string
	seen   chan struct{} // closed and replaced when a new pid answers
}

// NewTally returns an empty Tally.
func NewTally() *Tally { return &Tally{pids: map[int]int64{}, seen: make(chan struct{})} }

// Fail counts a failure described by msg.
func (t *Tally) Fail(msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed++
	if len(t.errs) < 10 {
		t.errs = append(t.errs, msg)
	}
}

// Answered counts an answer from pid.
func (t *Tally) Answered(pid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pids[pid] == 0 {
		close(t.seen)
		t.seen = make(chan struct{})
	}
	t.pids[pid]++
}

// WaitAnswer waits until pid has answered, or ctx is done.
func (t *Tally) WaitAnswer(ctx context.Context, pid int) error {
	for {
		t.mu.Lock()
		n, seen := t.pids[pid], t.seen
		t.mu.Unlock()
		if n > 0 {
			return nil
		}
		select {
		case <-seen:
		case <-ctx.Done():
			return fmt.Errorf("pid %d answered no request: %w", pid, ctx.Err())
		}
	}
}

// Counts returns the answers per pid, the failures and the first failure
// messages, copied.
func (t *Tally) Counts() (pids map[int]int64, failed int64, errs []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.pids), t.failed, slices.Clone(t.errs)
}

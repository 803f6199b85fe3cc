package testserver

import (
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Log collects the stderr lines of an example's process tree (every
// generation writes to the same pipe) and lets a test wait on them: for a
// generation that has not announced itself yet.
type Log struct {
	mu        sync.Mutex
	lines     []string
	change    chan struct{} // closed and replaced at every new line
	announced map[int]bool  // pids NextPID returned
}

// NewLog returns an empty Log.
func NewLog() *Log {
	return &Log{change: make(chan struct{}), announced: make(map[int]bool)}
}

// Add records a line and wakes the waiters.
func (l *Log) Add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.change)
	l.change = make(chan struct{})
}

// Lines returns the lines so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// NextPID waits (at most d) for a generation that has not announced itself
// before: a line matching announce, whose second submatch is the pid. It
// returns the line's submatches.
func (l *Log) NextPID(t testing.TB, announce *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	return l.wait(t, d, "a new generation ("+announce.String()+")", func(line string) []string {
		m := announce.FindStringSubmatch(line)
		if m == nil {
			return nil
		}
		p, _ := strconv.Atoi(m[2])
		if p <= 0 || l.announced[p] {
			return nil
		}
		l.announced[p] = true
		return m
	})
}

// wait runs match over the lines (l.mu held) until it returns non-nil.
func (l *Log) wait(t testing.TB, d time.Duration, what string, match func(string) []string) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if m := match(line); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		ch := l.change
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

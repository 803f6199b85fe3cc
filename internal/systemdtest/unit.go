//go:build linux

package systemdtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// LogOnFailure registers a cleanup that, if t failed, logs the file log in
// s.Dir (where the unit appends its output) and `systemctl status unit`:
// what a human needs to see of a unit that misbehaved.
func (s *System) LogOnFailure(t testing.TB, unit, log string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.Dir, log))
			t.Logf("%s:\n%s", log, b)
			out, _ := s.TrySystemctl("status", unit)
			t.Logf("systemctl status %s:\n%s", unit, out)
		}
	})
}

// WaitMainPID waits until unit is active with main pid want or, for want
// 0, with a main pid other than old, and returns that pid; it fails t if
// that is not so within the bound.
func (s *System) WaitMainPID(t testing.TB, unit string, old, want int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	// Polls systemd's state: from outside there is no event to wait on.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		p := s.MainPID(unit)
		if p != 0 && (want == 0 && p != old || want != 0 && p == want) && s.Show(unit, "ActiveState") == "active" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: main pid %d (state %s), want %d (0: any but %d) within %v", unit, p, s.Show(unit, "ActiveState"), want, old, within)
		}
		<-tick.C
	}
}

// StartSteadyLoad starts the load the unit tests drive (4 clients, a
// request each every 5 ms, 20 s per request) on http://addr/, stops it at
// t's cleanup, and waits for n answers (bounded by ctx) before it returns,
// so the unit is known to serve before the test acts.
func (s *System) StartSteadyLoad(t testing.TB, ctx context.Context, addr string, n int64) *Load {
	t.Helper()
	l := s.StartLoad(addr, "/", 4, 5*time.Millisecond, 20*time.Second)
	t.Cleanup(l.Stop)
	if err := l.WaitOK(ctx, n); err != nil {
		t.Fatal(err)
	}
	return l
}

// RestartUnder runs `systemctl restart unit` while l runs, waits (30 s at
// most) for a new main pid, logs what as the old and new pid and how long
// the restart took, and waits for 50 more answers of l (bounded by ctx).
func (s *System) RestartUnder(t testing.TB, ctx context.Context, l *Load, unit, what string) {
	t.Helper()
	before := s.MainPID(unit)
	start := time.Now()
	s.Systemctl("restart", unit)
	after := s.WaitMainPID(t, unit, before, 0, 30*time.Second)
	t.Logf("%s: main pid %d -> %d in %v", what, before, after, time.Since(start).Round(time.Millisecond))
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
}

// Restarts starts a steady load on addr (StartSteadyLoad), then runs
// `systemctl restart unit` n times under it (RestartUnder, logged as
// "systemctl restart K"), all within a minute, and returns the load, still
// running, for the caller to Check or Stop.
func (s *System) Restarts(t testing.TB, unit, addr string, n int) *Load {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := s.StartSteadyLoad(t, ctx, addr, 50)
	for i := range n {
		s.RestartUnder(t, ctx, l, unit, fmt.Sprintf("systemctl restart %d", i+1))
	}
	return l
}

// Check stops l, logs its tally under what, and fails t unless no
// connection was refused and no request failed.
func (l *Load) Check(t testing.TB, what string) {
	t.Helper()
	l.Stop()
	t.Logf("%s: %s", what, l)
	if l.Refused.Load() != 0 || l.Failed.Load() != 0 {
		t.Errorf("%s: %d refused, %d failed; want 0 and 0", what, l.Refused.Load(), l.Failed.Load())
	}
}

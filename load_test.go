//go:build linux

package handoff_test

import (
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/loadgen"
	"github.com/handoff-go/handoff/internal/testserver/testload"
)

// load is a run of the load generator against a test server: clients that
// never retry, POSTs, half keep-alive and half a connection per request,
// 5% slow requests so some are always in flight when an upgrade starts.
type load struct{ *testload.Load }

func startLoad(t testing.TB, addr string) *load {
	t.Helper()
	return startLoadWith(t, loadgen.Config{
		URL:          "http://" + addr + "/",
		Mode:         loadgen.ModeMixed,
		Clients:      8,
		SlowPath:     "/slow?ms=150",
		SlowFraction: 0.05,
	})
}

// holdThroughUpgrades holds 200 idle keep-alive connections on s, each
// sending one POST a second (a client that never retries), through 5
// upgrades, and returns what the clients saw.
func holdThroughUpgrades(t *testing.T, s *server) *report {
	t.Helper()
	l := startLoadWith(t, loadgen.Config{
		URL:          "http://" + s.addr + "/",
		Mode:         loadgen.ModeHold,
		HoldConns:    200,
		HoldInterval: time.Second,
	})
	l.Settle(t, 400)
	pid := s.cmd.Process.Pid
	for i := 0; i < 5; i++ {
		next, status := s.upgrade(pid)
		if next == pid {
			t.Fatalf("upgrade %d failed: %s", i+1, status)
		}
		l.Settle(t, 200)
		pid = next
	}
	l.Settle(t, 400)
	return l.stop()
}

func startLoadWith(t testing.TB, cfg loadgen.Config) *load {
	t.Helper()
	return &load{testload.Start(t, cfg)}
}

func (l *load) stop() *report { return &report{l.Stop()} }

type report struct{ *loadgen.Report }

func (r *report) failed() bool {
	return r.Failures != 0 || r.Outcomes.Mismatched != 0 || r.Outcomes.Duplicate != 0 || r.Requests == 0
}

// checkFailedUpgrade is the load's verdict on a failed upgrade (or
// takeover): nothing may fail while the old generation is healthy; after a
// rollback, the new generation crashed while serving and requests it had
// read die with it (a crash is a crash), so what must hold is that the
// socket never went away: no connection refused.
func (r *report) checkFailedUpgrade(t testing.TB, rollback bool) {
	t.Helper()
	switch {
	case rollback:
		if r.Outcomes.Refused != 0 || r.Requests == 0 {
			t.Fatalf("connections refused around the rollback: %s", r)
		}
	case r.failed():
		t.Fatalf("requests failed while the old generation was healthy: %s", r)
	}
}

func (r *report) servedBy(pid int) int64 {
	for _, p := range r.PIDs {
		if p.PID == pid {
			return p.Requests
		}
	}
	return 0
}

func (r *report) String() string { return testload.Summary(r.Report) }

//go:build linux

package main

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The promise for long-lived connections that cannot move: gRPC
// clients through 20 upgrades, zero failed calls. 4 long-lived
// ClientConns, 4 callers on each (one of them making 150 ms calls, so RPCs
// are in flight at every drain), retries disabled, every error counted; each
// old generation answers GracefulStop's GOAWAY by finishing its RPCs while
// the clients reconnect to the new one. Every generation's pid must answer.
func TestGRPCThrough20Upgrades_NoFailedCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := testserver.Start(t, ctx, testserver.Build(t, "."), "-probation", "300ms")
	answers := testserver.NewTally()
	l, err := startLoad(s.Addr, 4, 4, answers.Answered)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			l.stop()
		}
	}()

	start := time.Now()
	generations := s.Upgrades(ctx, 20, answers.WaitAnswer)
	took := time.Since(start)
	r := l.stop()
	stopped = true
	t.Logf("20 upgrades in %v: %s", took.Round(time.Millisecond), r)
	if r.Failed > 0 {
		t.Fatalf("%d of %d calls failed across 20 upgrades: %v", r.Failed, r.Calls, r.Errors)
	}
	for _, g := range generations {
		if r.Pids[g] == 0 {
			t.Errorf("generation pid %d answered no call", g)
		}
	}
	if len(r.Pids) != len(generations) {
		t.Errorf("answers came from %d pids, want the %d generations %v", len(r.Pids), len(generations), generations)
	}
}

// ---- running the example as real processes ----

func TestMain(m *testing.M) { testserver.Main(m) }

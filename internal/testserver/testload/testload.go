// Package testload runs the load generator (internal/loadgen) in a test:
// clients that never retry, started at once and stopped at the test's
// cleanup at the latest, and a wait for progress. It is testserver's
// neighbour rather than a part of it because loadgen's own tests use
// testserver.
package testload

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/loadgen"
)

// Load is a running load generator.
type Load struct {
	g      *loadgen.Generator
	cancel context.CancelFunc
	report *loadgen.Report
}

// Start starts a generator with cfg, failing the test if it cannot; it is
// stopped at the test's cleanup if not before.
func Start(t testing.TB, cfg loadgen.Config) *Load {
	t.Helper()
	g, err := loadgen.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	l := &Load{g: g, cancel: cancel}
	t.Cleanup(func() { l.Stop() })
	return l
}

// Stop stops the clients and returns their report; called again, it
// returns the same report.
func (l *Load) Stop() *loadgen.Report {
	if l.report == nil {
		l.report = l.g.Stop()
		l.cancel()
	}
	return l.report
}

// Settle waits until the load has had n more requests answered, so that
// every phase of a test (before, during and after an upgrade) really ran
// under load; it fails the test if that takes more than 30 s.
func (l *Load) Settle(t testing.TB, n int64) {
	t.Helper()
	target := l.g.Snapshot().Requests + n
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for l.g.Snapshot().Requests < target {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("load stalled: %d requests, waiting for %d", l.g.Snapshot().Requests, target)
		}
	}
}

// PerMillion is the report's failed requests per million.
func PerMillion(r *loadgen.Report) float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Failures) * 1e6 / float64(r.Requests)
}

// Summary says in one line how many requests the report counts, how many
// failed and how, and the errors it kept, if any.
func Summary(r *loadgen.Report) string {
	s := fmt.Sprintf("%d requests, %d failed (%+v)", r.Requests, r.Failures, r.Outcomes)
	if len(r.Errors) > 0 {
		s += fmt.Sprintf("; errors: %v", r.Errors)
	}
	return s
}

// Churn is the load the churn tests (the root's and the supervisor's) run
// against url through their many upgrades: 8 mixed clients (keep-alive and
// a connection per request), 2% of the requests 300 ms slow, and 40 held
// keep-alive connections sending every 250 ms.
func Churn(url string) loadgen.Config {
	return loadgen.Config{
		URL:          url,
		Mode:         loadgen.ModeMixed,
		Clients:      8,
		SlowPath:     "/slow?ms=300",
		SlowFraction: 0.02,
		HoldConns:    40,
		HoldInterval: 250 * time.Millisecond,
	}
}

//go:build unix

package supervisor

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/metrics"
)

// What an operator of nginx or HAProxy reaches for around an upgrade:
// metrics, reload (same bytes) versus upgrade (from disk), the stop delay
// of a Kubernetes lame duck. The rest of the supervisor calls in here
// through one-line hooks; pre-flight checks are in preflight.go.

// opsState is created by New. Its fields are safe from any goroutine.
type opsState struct {
	metrics  *metrics.Supervisor
	lameDuck atomic.Bool // SIGTERM seen, stop delay running: /ready says 503

	drains map[*worker]time.Time // owned by the loop: when each draining worker was told
}

func newOpsState(s *Supervisor) *opsState {
	return &opsState{metrics: metrics.NewSupervisor(s.metricsSnapshot), drains: map[*worker]time.Time{}}
}

// drainStarted and drainEnded time a worker's drain, on the loop.
func (s *Supervisor) drainStarted(w *worker) { s.operations.drains[w] = time.Now() }

func (s *Supervisor) drainEnded(w *worker) {
	if at, ok := s.operations.drains[w]; ok {
		delete(s.operations.drains, w)
		s.operations.metrics.Drained(time.Since(at))
	}
}

var _ control.Reloader = (*Supervisor)(nil)
var _ control.MetricsHandler = (*Supervisor)(nil)

// Metrics serves the supervisor's metrics (Prometheus text format): GET
// /metrics on the control socket, and --metrics ADDR.
func (s *Supervisor) Metrics() http.Handler { return s.operations.metrics.Handler() }

// Readiness answers 200 while the supervisor serves and 503 while it
// starts, stops, or is in its stop delay: the endpoint a load balancer or
// a Kubernetes readiness probe polls. It is served beside --metrics.
func (s *Supervisor) Readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap, ok := s.metricsSnapshot()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok || !snap.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready")
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

func (s *Supervisor) metricsSnapshot() (metrics.Snapshot, bool) {
	var snap metrics.Snapshot
	ok := s.call(func() {
		snap.Generations = map[string]int{}
		snap.Workers = map[string]int{}
		for _, g := range s.gens {
			if g.alive() > 0 || s.inSlots(g) {
				snap.Generations[s.genState(g)]++
			}
			for _, w := range g.workers {
				if w.alive() {
					snap.Workers[w.state.String()]++
				}
			}
		}
		if g := s.serving(); g != nil {
			snap.Generation, snap.Program, snap.SHA256 = g.n, g.exe.path, g.exe.sum
		}
		snap.Ready = s.served && !s.stopping && !s.idle && !s.operations.lameDuck.Load()
	})
	return snap, ok
}

// Reload starts a new generation of the exact program that serves (the
// bytes held open on Linux; elsewhere the file at its path, and only if
// its SHA-256 is still the one that generation started with), so the
// program re-reads its configuration without picking up a half-deployed
// binary. The --check command runs first, as for an upgrade. While an
// upgrade or reload runs, the call joins it (StageCoalesced): its new
// processes read the configuration too. Without a serving generation
// (first start, after WINCH) a reload is an upgrade.
func (s *Supervisor) Reload(ctx context.Context) <-chan control.Event {
	var ch <-chan control.Event
	ok := s.call(func() {
		if op, joined := s.requestReload("control socket"); op != nil {
			ch = op.events.subscribe(ctx, joined)
			return
		}
		ch = single(control.Event{Stage: control.StageRefused, Message: "reload refused: the supervisor is stopping"})
		s.operations.metrics.Upgrade("reload", metrics.ResultRefused, "stopping", metrics.Phases{}, time.Now())
	})
	if !ok {
		ch = single(control.Event{Stage: control.StageRefused, Message: "reload refused: the supervisor has exited"})
	}
	return ch
}

// requestReload runs on the loop: it starts a reload, or returns the
// running upgrade with the event that says the caller joined it; nil
// while stopping.
func (s *Supervisor) requestReload(source string) (*upgradeOp, *control.Event) {
	if s.stopping {
		return nil, nil
	}
	if op := s.upgrade; op != nil {
		s.log.Info("handoff: reload joins the running upgrade", "source", source, "generation", op.gen)
		s.operations.metrics.Coalesced("reload")
		return op, &control.Event{Stage: control.StageCoalesced, Generation: op.gen,
			Message: fmt.Sprintf("an upgrade started %v ago is running; its new processes read the configuration too: joined it, its result is this call's result",
				time.Since(op.started).Round(time.Millisecond))}
	}
	op := s.newUpgradeOp(false)
	op.reload = true
	s.startUpgradeOp(op)
	return op, nil
}

// opsSignal handles the signals whose meaning an option changes, and
// reports whether it did: HUP reloads with Config.HUPReloads; the first
// TERM, INT or QUIT starts the stop delay when Config.StopDelay is set.
func (s *Supervisor) opsSignal(sig os.Signal) bool {
	switch sig {
	case syscall.SIGHUP:
		if !s.cfg.HUPReloads || s.idle {
			return false // idle (after WINCH): HUP starts a generation again, as documented
		}
		if op, _ := s.requestReload("signal " + sig.String()); op == nil {
			s.log.Info("handoff: reload signal ignored: stopping")
		}
		return true
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
		if s.cfg.StopDelay <= 0 || s.stopping || !s.operations.lameDuck.CompareAndSwap(false, true) {
			return false // a second signal during the delay drains at once
		}
		s.log.Info("handoff: stop delay: still serving, readiness now 503", "signal", sig, "delay", s.cfg.StopDelay)
		s.sd.send("STATUS=stop delay: serving for " + s.cfg.StopDelay.String() + " while readiness fails")
		time.AfterFunc(s.cfg.StopDelay, func() {
			s.post(func() { s.beginStop("signal "+sig.String()+" after the stop delay", false) })
		})
		return true
	}
	return false
}

// upgradeCoalesced counts a trigger that joined (or queued behind) the
// running upgrade instead of starting one; the trigger code calls it.
func (s *Supervisor) upgradeCoalesced() { s.operations.metrics.Coalesced("upgrade") }

// upgradeFinished counts a finished upgrade or reload and its phases
// (called by finishUpgrade).
// The first start is not an upgrade: it is not counted.
func (s *Supervisor) upgradeFinished(op *upgradeOp, final control.Event) {
	if op.initial {
		return
	}
	kind := "upgrade"
	if op.reload {
		kind = "reload"
	}
	var p metrics.Phases
	var starting, ready, probation time.Time
	op.events.mu.Lock()
	for _, ev := range op.events.events {
		switch ev.Stage {
		case control.StageStarting:
			if starting.IsZero() {
				starting = ev.Time
			}
		case control.StageReady:
			ready = ev.Time
		case control.StageProbation:
			probation = ev.Time
		}
	}
	op.events.mu.Unlock()
	now := time.Now()
	if !starting.IsZero() && ready.After(starting) {
		p.StartToReady = ready.Sub(starting)
	}
	if !probation.IsZero() {
		p.Probation = now.Sub(probation)
	}
	p.Total = now.Sub(op.started)
	s.operations.metrics.Upgrade(kind, string(final.Stage), final.Reason, p, now)
}

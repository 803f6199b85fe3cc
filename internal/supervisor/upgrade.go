//go:build unix

package supervisor

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/launch"
)

// upgradeOp is one upgrade in progress (the first start is one too). Its
// steps run on a goroutine of their own, so the loop stays free to handle
// notifications, exits and signals; every step that reads or changes state
// goes through call.
type upgradeOp struct {
	initial bool
	started time.Time
	events  *eventLog
	poke    chan struct{} // a worker changed state: look again
	cancel  chan struct{} // closed when the upgrade must be abandoned

	// after is the upgrade this one was queued behind (a follow-up), nil
	// for an upgrade that started at once.
	after *upgradeOp

	// announced: RELOADING=1 was sent for it already (a reload signal).
	announced bool
	ended     chan struct{} // closed by finishUpgrade

	// Owned by the loop.
	reload       bool // start the serving bytes again (ops.go)
	gen          int
	resolved     bool // the program has been looked up: later triggers queue a follow-up
	canceled     bool
	cancelReason string
}

var errCanceled = errors.New("upgrade abandoned")

// beginUpgrade starts an upgrade. It must run on the loop with no upgrade
// running.
func (s *Supervisor) beginUpgrade(initial bool) *upgradeOp {
	op := s.newUpgradeOp(initial)
	s.startUpgradeOp(op)
	return op
}

// newUpgradeOp makes an upgrade that has not started: callers may already
// subscribe to its events (a queued follow-up).
func (s *Supervisor) newUpgradeOp(initial bool) *upgradeOp {
	op := &upgradeOp{
		initial: initial,
		poke:    make(chan struct{}, 1),
		cancel:  make(chan struct{}),
		ended:   make(chan struct{}),
	}
	op.events = newEventLog(func(ev control.Event) {
		s.log.Info("handoff: upgrade: "+string(ev.Stage), "generation", ev.Generation, "message", ev.Message)
	})
	return op
}

// startUpgradeOp runs op. It must run on the loop with no upgrade running.
func (s *Supervisor) startUpgradeOp(op *upgradeOp) {
	op.started = time.Now()
	s.upgrade = op
	if !op.initial && (!op.announced || op.after != nil) {
		s.sd.send(launch.Reloading("upgrading")...)
	}
	go s.runUpgrade(op)
	go s.extendWhileRunning(op)
}

// How systemd's start or reload timeout is kept from firing while an
// upgrade legitimately takes long (a slow-starting program, a large state
// blob): once an upgrade has run for extendEvery, and every extendEvery
// after that, EXTEND_TIMEOUT_USEC asks for extendBy more. The supervisor's
// own deadlines (ReadyTimeout, Probation, DrainTimeout) still bound it.
const (
	extendEvery = time.Second
	extendBy    = 10 * time.Second
)

func (s *Supervisor) extendWhileRunning(op *upgradeOp) {
	if s.sd.socket == "" {
		return
	}
	t := time.NewTicker(extendEvery)
	defer t.Stop()
	for {
		select {
		case <-op.ended:
			return
		case <-t.C:
			s.post(func() {
				if s.upgrade == op {
					s.sd.send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(extendBy.Microseconds(), 10))
				}
			})
		}
	}
}

func (s *Supervisor) pokeUpgrade() {
	if s.upgrade == nil {
		return
	}
	select {
	case s.upgrade.poke <- struct{}{}:
	default:
	}
}

func (s *Supervisor) runUpgrade(op *upgradeOp) {
	final := s.upgradeSteps(op)
	s.call(func() { s.finishUpgrade(op, final) })
}

// finishUpgrade records the outcome and tells systemd and the callers.
func (s *Supervisor) finishUpgrade(op *upgradeOp, final control.Event) {
	if s.upgrade == op {
		s.upgrade = nil
	}
	close(op.ended)
	if final.Generation == 0 {
		final.Generation = op.gen
	}
	took := time.Since(op.started)
	final.Ms = took.Milliseconds()
	if op.after != nil && final.Stage.Final() {
		final.Message += fmt.Sprintf(" (this upgrade waited for the one to generation %d to end, then looked the program up again)", op.after.gen)
	}
	op.events.emit(final) // no-op when cancelUpgrade already ended the stream
	s.upgradeFinished(op, final)
	if !op.initial || final.Stage != control.StageDone {
		s.last = &control.Upgrade{Generation: op.gen, Result: final.Stage, Message: final.Message,
			Started: op.started, Took: took.Round(time.Millisecond).String()}
	}
	status := "STATUS=" + final.Message
	switch {
	case op.initial && final.Stage == control.StageDone && !s.takeoverReady(): // takeover.go
	case op.initial && final.Stage == control.StageDone:
		s.served = true
		s.sd.send("READY=1", launch.MainPID(pid()), status)
	case op.initial && !s.stopping:
		s.exitErr = fmt.Errorf("handoff: %w: %s", ErrStartFailed, final.Message)
		s.beginStop("the first generation failed", false)
	case !op.initial && s.next != nil && !s.stopping:
		// A follow-up starts now; its end answers systemd's reload.
		s.sd.send(status)
	case !op.initial:
		s.sd.send("READY=1", status)
	}
	s.startFollowUp()
	s.maybeFinish()
}

// upgradeSteps resolves the program, starts the new generation, waits for
// it, cuts over, and watches it through probation. It returns the final
// event. Whatever fails before cutover, the workers it started are killed
// and the generation serving before keeps serving: it was never touched.
func (s *Supervisor) upgradeSteps(op *upgradeOp) control.Event {
	failed := func(format string, args ...any) control.Event {
		return control.Event{Stage: control.StageFailed, Message: fmt.Sprintf(format, args...)}
	}
	var prev *generation
	var canceled bool
	if !s.call(func() {
		canceled = op.canceled
		op.resolved = true // from here on, a trigger may mean newer bytes than we resolve
		prev = s.serving()
	}) || canceled {
		return failed("upgrade abandoned: the supervisor is stopping")
	}
	still := "; nothing was started"
	if prev != nil {
		still = fmt.Sprintf("; generation %d still serving", prev.n)
	}
	exe, refusal := s.program(op, prev, still) // pre-flight checks (preflight.go)
	if refusal != nil {
		return *refusal
	}
	var g *generation
	s.call(func() {
		g = s.newGeneration(exe, 0)
		op.gen = g.n
		if prev != nil {
			s.exeRefs[prev.exe]++ // pinned for a rollback until the upgrade ends
		}
	})
	defer s.call(func() { s.disown(g) })
	if prev != nil {
		defer s.call(func() { s.unref(prev.exe) })
	}
	op.events.emit(control.Event{Stage: control.StageStarting, Generation: g.n, Path: exe.path,
		Message: fmt.Sprintf("starting generation %d: %s", g.n, exe.path)})

	if err := s.replace(op, g, s.allSlots()); err != nil {
		if errors.Is(err, errCanceled) {
			return failed("%v", err)
		}
		return failed("handoff: upgrade to generation %d failed: %v%s", g.n, err, still)
	}
	if prev == nil || s.cfg.Probation <= 0 {
		s.call(func() { s.settle(g) })
		return s.doneEvent(g)
	}

	s.call(func() { g.probation = true })
	op.events.emit(control.Event{Stage: control.StageProbation, Generation: g.n, Ms: s.cfg.Probation.Milliseconds(),
		Message: fmt.Sprintf("generation %d serves; watching it for %v", g.n, s.cfg.Probation)})
	timer := time.NewTimer(s.cfg.Probation)
	defer timer.Stop()
	for {
		var dead *worker
		s.call(func() {
			for _, w := range g.workers {
				if w.watched && !w.alive() {
					dead = w
					return
				}
			}
		})
		if dead != nil {
			return s.rollback(op, g, prev, dead)
		}
		select {
		case <-op.poke:
		case <-op.cancel:
			s.call(func() { s.settle(g) })
			return failed("%v", errCanceled)
		case <-timer.C:
			s.call(func() { s.settle(g) })
			return s.doneEvent(g)
		}
	}
}

func (s *Supervisor) doneEvent(g *generation) control.Event {
	var pids []string
	s.call(func() {
		for _, w := range s.slots {
			if w != nil && w.gen == g {
				pids = append(pids, strconv.Itoa(w.pid()))
			}
		}
	})
	return control.Event{Stage: control.StageDone, Generation: g.n,
		Message: fmt.Sprintf("generation %d serving (pid %s)", g.n, strings.Join(pids, ", "))}
}

// settle ends probation: g's workers are ordinary serving workers from now
// on, and one that died meanwhile is restarted like any crash.
func (s *Supervisor) settle(g *generation) {
	g.probation = false
	for _, w := range g.workers {
		if !w.watched {
			continue
		}
		w.watched = false
		if !w.alive() && s.slots[w.slot] == w && !s.stopping && !s.idle {
			s.crashed(w, true)
		}
	}
}

// rollback starts prev's program (the exact bytes on Linux) as a new
// generation and drains g, whose worker dead died during probation.
func (s *Supervisor) rollback(op *upgradeOp, g, prev *generation, dead *worker) control.Event {
	// Start the previous program first: clients are queueing. The dead
	// worker's last words (describe may wait for its stderr) come after.
	op.events.emit(control.Event{Stage: control.StageInfo, Generation: g.n, PID: dead.pid(),
		Message: fmt.Sprintf("generation %d: worker %d died in probation (%s); starting generation %d's program again", g.n, dead.pid(), stateString(dead), prev.n)})
	var rg *generation
	s.call(func() { rg = s.newGeneration(prev.exe, prev.n) })
	defer s.call(func() { s.disown(rg) })
	op.events.emit(control.Event{Stage: control.StageStarting, Generation: rg.n, Path: prev.exe.path,
		Message: fmt.Sprintf("starting generation %d: the program of generation %d (%s)", rg.n, prev.n, prev.exe.path)})
	err := s.replace(op, rg, s.allSlots())
	why := describe(dead, dead.failure)
	s.call(func() { s.settle(g) })
	if err != nil {
		return control.Event{Stage: control.StageFailed, Generation: g.n,
			Message: fmt.Sprintf("generation %d died in probation (%s) and the rollback failed too: %v; restarting generation %d's workers", g.n, why, err, g.n)}
	}
	return control.Event{Stage: control.StageRolledBack, Generation: rg.n,
		Message: fmt.Sprintf("rolled back: generation %d died in probation (%s); generation %d runs generation %d's program again", g.n, why, rg.n, prev.n)}
}

func (s *Supervisor) allSlots() []int {
	out := make([]int, s.cfg.Workers)
	for i := range out {
		out[i] = i
	}
	return out
}

// replace puts workers of g into slots: all at once, or one at a time
// with StrategyRolling. Each batch starts, waits for readiness, then takes
// the slots over and drains whatever held them. If a batch fails, its
// workers are killed and replace returns the reason; slots already taken
// over by earlier batches (rolling) are handed back to the previous
// program by a rollback generation, so one version serves again.
func (s *Supervisor) replace(op *upgradeOp, g *generation, slots []int) error {
	batches := [][]int{slots}
	if s.cfg.Strategy == StrategyRolling {
		batches = batches[:0]
		for _, slot := range slots {
			batches = append(batches, []int{slot})
		}
	}
	var displaced []*worker
	for i, batch := range batches {
		var ws []*worker
		var err error
		s.call(func() {
			if op.canceled {
				err = fmt.Errorf("%w: %s", errCanceled, op.cancelReason)
				return
			}
			for _, slot := range batch {
				w, e := s.startWorker(g, slot)
				if e != nil {
					err = e
					return
				}
				w.watched = true
				ws = append(ws, w)
			}
		})
		for _, w := range ws {
			op.events.emit(control.Event{Stage: control.StageStarted, Generation: g.n, PID: w.pid(),
				Message: fmt.Sprintf("generation %d: started pid %d", g.n, w.pid())})
		}
		if err == nil {
			err = s.waitReady(op, g, ws)
		}
		if err != nil {
			s.abandon(ws)
			if i > 0 && !errors.Is(err, errCanceled) {
				err = fmt.Errorf("%w; %s", err, s.undo(op, g, displaced))
			}
			return err
		}
		s.call(func() {
			drained := map[*generation][]string{}
			for _, w := range ws {
				old := s.slots[w.slot]
				s.slots[w.slot] = w
				if old != nil && old.alive() {
					displaced = append(displaced, old)
					s.drainWorker(old)
					drained[old.gen] = append(drained[old.gen], strconv.Itoa(old.pid()))
				}
			}
			s.idle = false
			for og, pids := range drained {
				op.events.emit(control.Event{Stage: control.StageDraining, Generation: og.n,
					Message: fmt.Sprintf("generation %d: draining pid %s (%s, up to %v)", og.n, strings.Join(pids, ", "), sigName(s.cfg.DrainSignal), s.cfg.DrainTimeout)})
			}
			s.retireExcess(op)
		})
	}
	return nil
}

// undo hands the slots a failed rolling upgrade had already taken back to
// the program of the workers it displaced.
func (s *Supervisor) undo(op *upgradeOp, g *generation, displaced []*worker) string {
	if len(displaced) == 0 {
		return "no slot was taken over"
	}
	prev := displaced[0].gen
	var rg *generation
	var slots []int
	s.call(func() {
		rg = s.newGeneration(prev.exe, prev.n)
		for _, w := range displaced {
			slots = append(slots, w.slot)
		}
	})
	defer s.call(func() { s.disown(rg) })
	if err := s.replace(op, rg, slots); err != nil {
		return fmt.Sprintf("%d workers of generation %d kept serving, and handing their slots back failed: %v", len(slots), g.n, err)
	}
	return fmt.Sprintf("the %d workers of generation %d that had taken over were replaced by generation %d (generation %d's program)", len(slots), g.n, rg.n, prev.n)
}

// waitReady waits until every worker in ws is ready, or one of them exited
// or was given up on (readiness timeout, protocol mismatch), or the upgrade
// is abandoned.
func (s *Supervisor) waitReady(op *upgradeOp, g *generation, ws []*worker) error {
	for {
		var failed *worker
		ready := 0
		if !s.call(func() {
			for _, w := range ws {
				if !w.alive() {
					failed = w
					return
				}
				if w.state != workerStarting {
					ready++
					if !w.reported {
						w.reported = true
						ms := w.readyAt.Sub(w.started).Milliseconds()
						op.events.emit(control.Event{Stage: control.StageReady, Generation: g.n, PID: w.pid(), Ms: ms,
							Message: fmt.Sprintf("generation %d: pid %d ready after %d ms", g.n, w.pid(), ms)})
					}
				}
			}
		}) {
			return fmt.Errorf("%w: the supervisor exited", errCanceled)
		}
		if failed != nil {
			failure := failed.failure
			if failure == "" {
				failure = "exited before it was ready"
			}
			return fmt.Errorf("pid %d %s", failed.pid(), describe(failed, failure))
		}
		if ready == len(ws) {
			return nil
		}
		select {
		case <-op.poke:
		case <-op.cancel:
			return errCanceled
		}
	}
}

// abandon kills workers that will not serve and waits until they are gone.
func (s *Supervisor) abandon(ws []*worker) {
	s.call(func() {
		for _, w := range ws {
			w.stopping = true
			w.watched = false
			s.fail(w, "abandoned")
		}
	})
	for _, w := range ws {
		<-w.proc.Done()
	}
}

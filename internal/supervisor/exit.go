//go:build unix

package supervisor

import (
	"fmt"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

// onExit handles a worker that has exited and been reaped.
func (s *Supervisor) onExit(w *worker) {
	wasReady := w.state == workerReady
	w.state = workerExited
	w.recv.Close()
	endTree(w) // its helpers and its MAINPID= process end with it
	s.pokeUpgrade()
	switch {
	case w.stopping:
		s.drainEnded(w) // metrics (ops.go)
		left := w.gen.alive()
		s.log.Info("handoff: worker exited", "generation", w.gen.n, "pid", w.pid(), "status", stateString(w), "workers_left", left)
		if s.upgrade != nil {
			s.upgrade.events.emit(control.Event{Stage: control.StageDrained, Generation: w.gen.n, PID: w.pid(), Workers: left,
				Message: fmt.Sprintf("generation %d: worker %d exited (%s), %d left", w.gen.n, w.pid(), stateString(w), left)})
		}
	case w.watched:
		// The upgrade that watches it reports it.
	case s.slots[w.slot] == w && !s.stopping && !s.idle:
		s.crashed(w, wasReady)
	}
	s.prune()
	s.maybeFinish()
}

func stateString(w *worker) string {
	if st := w.proc.State(); st != nil {
		return st.String()
	}
	return "unknown"
}

// crashed restarts the slot of a worker that exited on its own, after a
// delay that doubles with each consecutive crash, and gives up after
// CrashLimit of them.
func (s *Supervisor) crashed(w *worker, wasReady bool) {
	crashes := w.crashes + 1
	if wasReady && time.Since(w.started) >= s.cfg.StableAfter {
		crashes = 1
	}
	if crashes > s.cfg.CrashLimit {
		s.exitErr = fmt.Errorf("handoff: %w: generation %d exited %d times in a row, each within %v of its start; giving up; last: %s",
			ErrCrashLoop, w.gen.n, crashes, s.cfg.StableAfter, describe(w, w.failure))
		s.log.Error(s.exitErr.Error())
		s.operations.metrics.CrashLoop()
		s.beginStop("crash loop", false)
		return
	}
	delay := s.cfg.RestartDelay << (crashes - 1)
	if delay > s.cfg.MaxRestartDelay || delay <= 0 {
		delay = s.cfg.MaxRestartDelay
	}
	// describe may wait a little for the stderr pipe: not on the loop.
	go func() {
		why := describe(w, w.failure)
		s.log.Warn("handoff: worker died, restarting", "generation", w.gen.n, "pid", w.pid(), "status", why, "crashes", crashes, "in", delay)
	}()
	time.AfterFunc(delay, func() { s.post(func() { s.restart(w, crashes) }) })
}

// restart starts a new worker in dead's slot, in dead's generation (the same
// bytes), unless the slot was taken over meanwhile (an upgrade, a stop).
func (s *Supervisor) restart(dead *worker, crashes int) {
	if s.stopping || s.idle || s.slots[dead.slot] != dead {
		return
	}
	nw, err := s.startWorker(dead.gen, dead.slot)
	if err != nil {
		s.log.Error("handoff: restart", "err", err)
		// Count the failed start as one more crash of the same slot.
		dead.crashes = crashes
		s.crashed(dead, false)
		return
	}
	nw.crashes = crashes
	nw.restarts = dead.restarts + 1
	s.operations.metrics.Restart()
	s.slots[dead.slot] = nw
	s.prune()
}

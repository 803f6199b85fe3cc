//go:build unix

package supervisor

import (
	"github.com/handoff-go/handoff/internal/control"
)

// beginStop drains every worker and makes the loop exit once none is left.
// A second call with hard set (a second TERM) kills them all at once.
func (s *Supervisor) beginStop(reason string, hard bool) {
	if s.stopping {
		if hard && !s.hard {
			s.hard = true
			s.log.Warn("handoff: stopping now: killing every worker", "reason", reason)
			s.killAll()
		}
		return
	}
	s.stopping = true
	s.log.Info("handoff: stopping: draining every worker", "reason", reason)
	s.sd.send("STOPPING=1", "STATUS=stopping: "+reason)
	s.cancelUpgrade("the supervisor is stopping (" + reason + ")")
	s.drainAll()
	s.maybeFinish()
}

// drainAll drains every live worker and empties the slots.
func (s *Supervisor) drainAll() {
	for i := range s.slots {
		s.slots[i] = nil
	}
	for _, g := range s.gens {
		g.probation = false
		for _, w := range g.workers {
			s.drainWorker(w)
		}
	}
}

func (s *Supervisor) killAll() {
	for _, g := range s.gens {
		for _, w := range g.workers {
			w.stopping = true
			s.fail(w, "stopped at once")
		}
	}
}

// maybeFinish ends the loop when a stop is complete.
func (s *Supervisor) maybeFinish() {
	if s.stopping && s.alive() == 0 && s.upgrade == nil && !s.quit {
		s.sweepOrphans()
		s.log.Info("handoff: stopped")
		s.quit = true
	}
}

// cancelUpgrade ends a running upgrade: its starting workers are killed by
// whoever cancels (stop, WINCH drain them), and its subscribers are told
// now, since the upgrade goroutine may only notice later.
func (s *Supervisor) cancelUpgrade(reason string) {
	if next := s.next; next != nil {
		s.next = nil
		next.canceled = true
		next.events.emit(control.Event{Stage: control.StageFailed, Message: "queued upgrade abandoned: " + reason + "; nothing was started"})
	}
	op := s.upgrade
	if op == nil || op.canceled {
		return
	}
	op.canceled = true
	op.cancelReason = reason
	close(op.cancel)
	op.events.emit(control.Event{Stage: control.StageFailed, Generation: op.gen, Final: true, Message: "upgrade abandoned: " + reason})
}

//go:build unix

package supervisor

import (
	"fmt"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

// The newest trigger wins. A trigger (HUP, USR2, POST /upgrade) is a
// deploy: whoever sends it has just put a program on disk and wants that
// program to serve. So a trigger that arrives while an upgrade runs is
// neither dropped nor merged into the running upgrade once that upgrade has
// looked the program up (it may be running older bytes): it queues one
// follow-up upgrade, which looks the program up again when the running one
// ends. Any number of triggers meanwhile coalesce into that one follow-up,
// since it will see the newest file anyway. A trigger that arrives before
// the running upgrade has looked the program up simply joins it: that
// upgrade will see the file as it is at the trigger, or newer.

// trigger is one request for an upgrade, and what its caller is told.
type trigger struct {
	op *upgradeOp
	// joined is the first event a caller who did not start op is shown
	// (StageCoalesced), nil for the caller that started it.
	joined *control.Event
}

// requestUpgrade handles a trigger on the loop: it starts an upgrade, joins
// one that has not resolved the program yet, or queues (or joins) the
// follow-up. It returns a zero trigger while stopping.
// announced says the caller has already sent systemd RELOADING=1 for it
// (a reload signal does at once).
func (s *Supervisor) requestUpgrade(source string, announced bool) trigger {
	if s.stopping {
		return trigger{}
	}
	run := s.upgrade
	switch {
	case run == nil:
		op := s.newUpgradeOp(false)
		op.announced = announced
		s.startUpgradeOp(op)
		return trigger{op: op}
	case !run.resolved && !run.canceled && !run.reload: // a reload runs the old bytes: queue behind it (ops.go)
		s.log.Info("handoff: upgrade trigger joins the running upgrade, which has not looked the program up yet", "source", source)
		return trigger{op: run, joined: &control.Event{Stage: control.StageCoalesced,
			Message: fmt.Sprintf("joined an upgrade started %v ago that had not looked the program up yet; its result is this call's result",
				time.Since(run.started).Round(time.Millisecond))}}
	}
	what := "queued a follow-up upgrade"
	if s.next == nil {
		s.next = s.newUpgradeOp(false)
		s.next.after = run
	} else {
		what = "joined the follow-up upgrade already queued"
	}
	s.log.Info("handoff: upgrade trigger while an upgrade runs: "+what, "source", source, "running_generation", run.gen)
	return trigger{op: s.next, joined: &control.Event{Stage: control.StageCoalesced,
		Message: fmt.Sprintf("an upgrade to generation %d (started %v ago) is running with the program as it was on disk then; %s that looks the program up again when it ends, and waits for it: this call reports the follow-up",
			run.gen, time.Since(run.started).Round(time.Millisecond), what)}}
}

// startFollowUp starts the queued follow-up, if any, once the running
// upgrade has ended. It runs on the loop; it reports whether one started.
func (s *Supervisor) startFollowUp() bool {
	op := s.next
	if op == nil || s.upgrade != nil {
		return false
	}
	s.next = nil
	if s.stopping {
		// cancelUpgrade has normally ended it already; this is a guard.
		op.events.emit(control.Event{Stage: control.StageFailed, Message: "upgrade abandoned: the supervisor is stopping"})
		return false
	}
	// Idle (WINCH) is no reason to drop it: a trigger after WINCH is what
	// starts a generation again, even one that queued behind the upgrade
	// WINCH abandoned.
	s.startUpgradeOp(op)
	return true
}

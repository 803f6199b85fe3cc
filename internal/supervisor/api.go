//go:build unix

package supervisor

import (
	"context"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

// The control.Handler side of the supervisor: what `handoff upgrade`,
// `status` and `stop` (or curl) reach through the control socket.

var _ control.Handler = (*Supervisor)(nil)

// Upgrade starts an upgrade and streams its events. The result is always
// that of an upgrade which ran the program as it was on disk when Upgrade
// was called, or newer: when an upgrade is already running and has looked
// the program up, this call queues one follow-up upgrade (or joins the one
// already queued), which looks the program up again when the running one
// ends; a StageCoalesced event first says that the call waits for another
// upgrade, and the stream then carries the follow-up's events and result.
// A call that arrives before the running upgrade has looked the program up
// joins it (StageCoalesced too). Fifty concurrent calls therefore produce
// at most a few upgrades, the last of them running the newest file. A
// stopping supervisor refuses (StageRefused).
func (s *Supervisor) Upgrade(ctx context.Context) <-chan control.Event {
	var ch <-chan control.Event
	ok := s.call(func() {
		tr := s.requestUpgrade("control socket", false)
		if tr.op == nil {
			ch = single(control.Event{Stage: control.StageRefused, Message: "upgrade refused: the supervisor is stopping"})
			return
		}
		if tr.joined != nil {
			s.upgradeCoalesced()
		}
		ch = tr.op.events.subscribe(ctx, tr.joined)
	})
	if !ok {
		ch = single(control.Event{Stage: control.StageRefused, Message: "upgrade refused: the supervisor has exited"})
	}
	return ch
}

// Status describes the supervisor, its generations and workers.
func (s *Supervisor) Status() control.Status {
	var st control.Status
	if !s.call(func() { st = s.status() }) {
		st = control.Status{PID: pid(), State: "stopped"}
	}
	return st
}

// Stop starts a graceful stop, as SIGTERM does, and returns at once.
func (s *Supervisor) Stop() control.Event {
	ev := control.Event{Time: time.Now(), Stage: control.StageInfo, Message: "stopping: draining every worker"}
	if !s.call(func() { s.beginStop("stop requested on the control socket", false) }) {
		ev.Message = "already stopped"
	}
	return ev
}

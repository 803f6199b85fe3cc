//go:build unix

package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

// The control.Handler side of the supervisor: what `handoff upgrade`,
// `status` and `stop` (or curl) reach through the control socket.

var _ control.Handler = (*Supervisor)(nil)

// Upgrade starts an upgrade and streams its events. When one is already
// running, the caller joins it instead (a StageCoalesced event says so) and
// receives its events from the beginning and its result: fifty concurrent
// `handoff upgrade` calls produce one upgrade and fifty identical answers.
// The running upgrade resolved the program when it began (its StageStarting
// event names the path), so a binary replaced after that needs one more
// upgrade. A stopping supervisor refuses (StageRefused).
func (s *Supervisor) Upgrade(ctx context.Context) <-chan control.Event {
	var ch <-chan control.Event
	ok := s.call(func() {
		switch {
		case s.stopping:
			ch = single(control.Event{Stage: control.StageRefused, Message: "upgrade refused: the supervisor is stopping"})
		case s.upgrade != nil:
			op := s.upgrade
			ch = op.events.subscribe(ctx, &control.Event{Stage: control.StageCoalesced, Generation: op.gen,
				Message: fmt.Sprintf("an upgrade started %v ago is already running; joined it, its result is this call's result",
					time.Since(op.started).Round(time.Millisecond))})
		default:
			ch = s.beginUpgrade(false).events.subscribe(ctx, nil)
		}
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

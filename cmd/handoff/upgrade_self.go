//go:build !windows

package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

const selfSynopsis = `
With --self, the supervisor itself is upgraded: it re-executes the handoff
binary it was started from (as it is on disk now) in place, with the same pid,
so systemd, a container runtime and pid files see nothing. Its workers keep
serving, unaware: they stay its children, and the sockets, the control socket,
their notify sockets, the rollback bytes and the counters carry over. Before
the point of no return the new binary must pass the pre-flight checks (5, 7, 8
above) and answer 'handoff internal-state-version' with the state version of
the running one within 10s; otherwise (12) nothing changes and the old
supervisor serves on. Refused (1) while an upgrade runs or is queued, a worker
starts or a crash restart is pending; an execve that fails (1) leaves the old
supervisor running, and says so. On success the command waits for the new
binary to answer on the control socket and prints its version. SIGVTALRM to
the supervisor does the same (its outcome is in the log). Linux only.
`

// selfAnswerTimeout bounds the wait for the new binary to answer on the
// control socket after the exec.
const selfAnswerTimeout = 60 * time.Second

// upgradeSelf follows POST /upgrade-self. A final event means the
// supervisor refused or its execve failed: the old one serves. A stream
// that breaks without one means the execve happened: the new binary is
// then asked for its status until it answers, and counts one more re-exec.
func upgradeSelf(c *control.Client, ctx context.Context, each func(control.Event)) (control.Event, error) {
	before, err := c.Status(ctx)
	if err != nil {
		return control.Event{}, err
	}
	reexecs := 0
	if before.Supervisor != nil {
		reexecs = before.Supervisor.ReExecs
	}
	final, err := c.UpgradeSelf(ctx, each)
	if err == nil {
		return final, nil
	}
	deadline := time.Now().Add(selfAnswerTimeout)
	for {
		st, serr := c.Status(ctx)
		if serr == nil && st.Supervisor != nil && st.Supervisor.ReExecs > reexecs {
			if st.PID != before.PID {
				return control.Event{}, fmt.Errorf("the supervisor answering now is pid %d, not %d", st.PID, before.PID)
			}
			done := control.Event{Time: time.Now(), Stage: control.StageDone, PID: st.PID, Path: st.Supervisor.Executable, Final: true,
				Message: fmt.Sprintf("supervisor pid %d re-executed in place: %s, version %s (was %s); %d workers kept serving",
					st.PID, st.Supervisor.Executable, st.Supervisor.Version, versionOf(before), countWorkers(st))}
			if each != nil {
				each(done)
			}
			return done, nil
		}
		if time.Now().After(deadline) {
			if serr == nil {
				serr = errors.New("it still reports the old binary")
			}
			return control.Event{}, fmt.Errorf("the stream ended at the re-exec, and the supervisor did not answer as its new binary within %v: %v", selfAnswerTimeout, serr)
		}
		select {
		case <-ctx.Done():
			return control.Event{}, ctx.Err()
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

func versionOf(st control.Status) string {
	if st.Supervisor == nil {
		return "unknown"
	}
	return st.Supervisor.Version
}

func countWorkers(st control.Status) int {
	n := 0
	for _, g := range st.Generations {
		n += len(g.Workers)
	}
	return n
}

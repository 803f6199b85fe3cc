package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

// supervisorTarget runs hello under `handoff run` and upgrades it through
// the control socket, as `handoff upgrade` does.
type supervisorTarget struct {
	env  *demoEnv
	ctl  string
	sup  *child
	pid  int // the serving worker
	proc *procSet
}

func newSupervisorTarget(env *demoEnv) *supervisorTarget {
	return &supervisorTarget{env: env, ctl: filepath.Join(env.dir, "control.sock"), proc: env.procs}
}

func (t *supervisorTarget) start(ctx context.Context) (int, error) {
	args := []string{"run", "-q",
		"--listen", "http=tcp://" + t.env.addr,
		"--control", t.ctl,
		// Each upgrade's probation must end before the next one starts: a
		// second upgrade during probation would join the first.
		"--probation", t.env.probation.String(),
		"--", t.env.hello(), "-addr", t.env.addr}
	sup, err := startChild(t.proc, t.env.out, nil, t.env.handoff(), args...)
	if err != nil {
		return 0, err
	}
	t.sup = sup
	cl := control.NewClient(t.ctl)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(readyTimeout)
	for {
		select {
		case <-sup.exited:
			return 0, fmt.Errorf("supervisor exited: %v", sup.err)
		case <-deadline:
			return 0, fmt.Errorf("supervisor not serving within %v", readyTimeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		// The control socket appears a moment after start: errors until
		// then are expected.
		st, err := cl.Status(ctx)
		if err != nil || st.State != "serving" || len(st.Generations) == 0 || len(st.Generations[0].Workers) == 0 {
			continue
		}
		g := st.Generations[0]
		t.pid = g.Workers[0].PID
		t.proc.add(t.pid)
		return t.pid, nil
	}
}

func (t *supervisorTarget) upgrade(ctx context.Context) (demoStep, error) {
	step := demoStep{oldPID: t.pid}
	start := time.Now()
	final, err := control.NewClient(t.ctl).Upgrade(ctx, func(ev control.Event) {
		if ev.Generation > 0 {
			step.generation = ev.Generation
		}
		switch ev.Stage {
		case control.StageStarted:
			step.newPID = ev.PID
			t.proc.add(ev.PID)
		case control.StageReady:
			step.ready = time.Since(start)
			if ev.PID > 0 {
				step.newPID = ev.PID
			}
		}
	})
	if err != nil {
		return step, err
	}
	if final.Stage != control.StageDone {
		return step, fmt.Errorf("%s: %s", final.Stage, final.Message)
	}
	t.pid = step.newPID
	return step, nil
}

// stop asks the supervisor to drain and exit (SIGTERM), then kills
// whatever is left: the supervisor, and every worker it was seen with.
func (t *supervisorTarget) stop() {
	if t.sup != nil {
		t.sup.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-t.sup.exited:
		case <-time.After(stopGrace):
			t.sup.cmd.Process.Kill()
			<-t.sup.exited
		}
	}
	t.proc.stop(stopGrace)
}

var _ demoTarget = (*supervisorTarget)(nil)

package demo

import (
	"context"
	"syscall"
	"time"
)

// naiveTarget restarts hello the way most deployments do without a
// handoff: SIGTERM, wait for the process to exit, start the new one on the
// same port. hello drains gracefully on SIGTERM, so what fails is what no
// drain can save: connections refused while nobody listens.
type naiveTarget struct {
	bareHello
	cur *child
	gen int
}

func newNaiveTarget(env *demoEnv) *naiveTarget { return &naiveTarget{bareHello: bareHello{env: env}} }

func (t *naiveTarget) start(ctx context.Context) (int, error) { return t.launch(ctx) }

// launch starts one hello and waits until it is ready.
func (t *naiveTarget) launch(ctx context.Context) (int, error) {
	c, _, err := t.bareHello.start(ctx, "-addr", t.env.addr)
	if c != nil {
		t.cur = c
		t.gen++
	}
	if err != nil {
		return 0, err
	}
	return c.cmd.Process.Pid, nil
}

func (t *naiveTarget) upgrade(ctx context.Context) (demoStep, error) {
	old := t.cur
	step := demoStep{oldPID: old.cmd.Process.Pid, generation: t.gen + 1}
	start := time.Now()
	old.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-old.exited:
	case <-ctx.Done():
		return step, ctx.Err()
	}
	pid, err := t.launch(ctx)
	if err != nil {
		return step, err
	}
	step.ready, step.newPID = time.Since(start), pid
	return step, nil
}

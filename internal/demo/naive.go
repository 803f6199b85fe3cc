package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// naiveTarget restarts hello the way most deployments do without a
// handoff: SIGTERM, wait for the process to exit, start the new one on the
// same port. hello drains gracefully on SIGTERM, so what fails is what no
// drain can save: connections refused while nobody listens.
type naiveTarget struct {
	env    *demoEnv
	notify *notifyWatcher
	cur    *child
	gen    int
}

func newNaiveTarget(env *demoEnv) *naiveTarget { return &naiveTarget{env: env} }

func (t *naiveTarget) start(ctx context.Context) (int, error) {
	w, err := listenNotify(filepath.Join(t.env.dir, "notify.sock"))
	if err != nil {
		return 0, err
	}
	t.notify = w
	return t.launch(ctx)
}

// launch starts one hello and waits until it is ready.
func (t *naiveTarget) launch(ctx context.Context) (int, error) {
	c, err := startChild(t.env.procs, t.env.out, []string{"NOTIFY_SOCKET=" + t.notify.Path()}, t.env.hello(), "-addr", t.env.addr)
	if err != nil {
		return 0, err
	}
	t.cur = c
	t.gen++
	if _, err := t.notify.waitReady(ctx, 0, c.exited, readyTimeout); err != nil {
		return 0, fmt.Errorf("hello: %w", err)
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

func (t *naiveTarget) stop() {
	t.env.procs.stop(stopGrace)
	if t.cur != nil {
		t.cur.cmd.Process.Kill()
		<-t.cur.exited
	}
	if t.notify != nil {
		t.notify.Close()
	}
}

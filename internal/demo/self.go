package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"time"
)

// selfTarget runs hello on its own and upgrades it with the library's
// self-upgrade: SIGHUP to the serving process, which starts the binary
// again with its sockets and drains once the new generation is ready. The
// pid changes on every upgrade; the demo follows it through MAINPID= on its
// NOTIFY_SOCKET, as systemd would.
type selfTarget struct {
	env    *demoEnv
	notify *notifyWatcher
	first  *child
	pid    int
	gen    int
}

func newSelfTarget(env *demoEnv) *selfTarget { return &selfTarget{env: env} }

func (t *selfTarget) start(ctx context.Context) (int, error) {
	w, err := listenNotify(filepath.Join(t.env.dir, "notify.sock"))
	if err != nil {
		return 0, err
	}
	t.notify = w
	c, err := startChild(t.env.procs, t.env.out, []string{"NOTIFY_SOCKET=" + w.Path()}, t.env.hello(),
		"-addr", t.env.addr, "-pidfile", filepath.Join(t.env.dir, "hello.pid"),
		// As under the supervisor: probation over before the next upgrade.
		"-probation", t.env.probation.String())
	if err != nil {
		return 0, err
	}
	t.first = c
	pid, err := w.waitReady(ctx, 0, c.exited, readyTimeout)
	if err != nil {
		return 0, fmt.Errorf("hello: %w", err)
	}
	t.pid, t.gen = pid, 1
	t.env.procs.add(pid)
	return pid, nil
}

func (t *selfTarget) upgrade(ctx context.Context) (demoStep, error) {
	step := demoStep{oldPID: t.pid, generation: t.gen + 1}
	start := time.Now()
	if err := kill(t.pid, syscall.SIGHUP); err != nil {
		return step, fmt.Errorf("signal pid %d: %w", t.pid, err)
	}
	// The old generation reports failure itself (READY=1 with its own pid);
	// the timeout only covers one that died.
	pid, err := t.notify.waitReady(ctx, t.pid, nil, readyTimeout)
	if err != nil {
		return step, err
	}
	step.ready = time.Since(start)
	step.newPID = pid
	t.env.procs.add(pid)
	t.pid, t.gen = pid, t.gen+1
	return step, nil
}

// stop drains every generation still alive (SIGTERM), kills what remains,
// and reaps the first one, the demo's own child.
func (t *selfTarget) stop() {
	t.env.procs.stop(stopGrace)
	if t.first != nil {
		t.first.cmd.Process.Kill()
		<-t.first.exited
	}
	if t.notify != nil {
		t.notify.Close()
	}
}

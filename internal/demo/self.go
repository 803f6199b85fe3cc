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
	bareHello // its child is the first generation, the demo's own
	pid       int
	gen       int
}

func newSelfTarget(env *demoEnv) *selfTarget { return &selfTarget{bareHello: bareHello{env: env}} }

func (t *selfTarget) start(ctx context.Context) (int, error) {
	_, pid, err := t.bareHello.start(ctx, "-addr", t.env.addr, "-pidfile", filepath.Join(t.env.dir, "hello.pid"),
		// As under the supervisor: probation over before the next upgrade.
		"-probation", t.env.probation.String())
	if err != nil {
		return 0, err
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

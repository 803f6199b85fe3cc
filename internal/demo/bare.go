package demo

import (
	"context"
	"fmt"
	"path/filepath"
)

// bareHello is what the two targets without a supervisor (self and naive)
// share: hello run directly by the demo, its readiness read from a
// NOTIFY_SOCKET of the demo's own.
type bareHello struct {
	env    *demoEnv
	notify *notifyWatcher
	child  *child // the hello the demo started last: reaped at stop
}

// start starts hello with args (the notify socket is opened first) and
// waits until it is ready; it returns the process (nil when it could not
// start) and the pid the READY=1 named.
func (b *bareHello) start(ctx context.Context, args ...string) (*child, int, error) {
	if b.notify == nil {
		w, err := listenNotify(filepath.Join(b.env.dir, "notify.sock"))
		if err != nil {
			return nil, 0, err
		}
		b.notify = w
	}
	c, err := startChild(b.env.procs, b.env.out, []string{"NOTIFY_SOCKET=" + b.notify.Path()}, b.env.hello(), args...)
	if err != nil {
		return nil, 0, err
	}
	b.child = c
	pid, err := b.notify.waitReady(ctx, 0, c.exited, readyTimeout)
	if err != nil {
		return c, 0, fmt.Errorf("hello: %w", err)
	}
	return c, pid, nil
}

// stop drains every process still alive (SIGTERM), kills what remains,
// reaps the demo's own child and closes the notify socket.
func (b *bareHello) stop() {
	b.env.procs.stop(stopGrace)
	if b.child != nil {
		b.child.cmd.Process.Kill()
		<-b.child.exited
	}
	if b.notify != nil {
		b.notify.Close()
	}
}

package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// notifyWatcher is the NOTIFY_SOCKET the demo gives examples/hello when it
// runs without the supervisor. hello, built on the library, sends READY=1
// with MAINPID=<its pid> when it serves, and on each self-upgrade the old
// generation sends MAINPID=<new pid> and READY=1 once the new one is ready
// (or READY=1 with its own pid and a STATUS saying the upgrade failed):
// exactly what systemd would see. Waiting for that, instead of polling the
// pid file, times readiness the way the library defines it.
type notifyWatcher struct {
	recv *sdnotify.Receiver
	ch   chan readyNote
	done chan struct{} // closed by Close, so that run never blocks forever
	once sync.Once
}

// readyNote is one READY=1 notification.
type readyNote struct {
	pid    int // MAINPID=, or the sender when it names none
	status string
}

func listenNotify(path string) (*notifyWatcher, error) {
	recv, err := sdnotify.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	w := &notifyWatcher{recv: recv, ch: make(chan readyNote, 64), done: make(chan struct{})}
	go w.run()
	return w, nil
}

func (w *notifyWatcher) run() {
	defer close(w.ch)
	for {
		d, err := w.recv.Receive()
		if err != nil {
			return // closed
		}
		if d.Err != nil {
			continue
		}
		if v, _ := d.Msg.Get("READY"); v != "1" {
			continue
		}
		n := readyNote{pid: d.PID}
		if v, ok := d.Msg.Get("MAINPID"); ok {
			if p, err := strconv.Atoi(v); err == nil && p > 0 {
				n.pid = p
			}
		}
		n.status, _ = d.Msg.Get("STATUS")
		select {
		case w.ch <- n:
		case <-w.done:
			return
		}
	}
}

func (w *notifyWatcher) Path() string { return w.recv.Path() }

// Close closes the socket and stops the watcher.
func (w *notifyWatcher) Close() {
	w.once.Do(func() {
		close(w.done)
		w.recv.Close()
	})
}

// errUpgradeFailed is a READY=1 from the old generation that says the
// upgrade failed (the library's convention, which HAProxy's is too).
var errUpgradeFailed = errors.New("upgrade failed, the old generation still serves")

// waitReady waits for a READY=1 naming a pid other than old: the new
// generation. A READY=1 from old itself means the upgrade failed. It gives
// up when exited closes (the process died first), at timeout, or with ctx.
func (w *notifyWatcher) waitReady(ctx context.Context, old int, exited <-chan struct{}, timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case n, ok := <-w.ch:
			if !ok {
				return 0, errors.New("notify socket closed")
			}
			switch {
			case n.pid != old && n.pid > 0:
				return n.pid, nil
			case n.pid == old && old > 0 && strings.Contains(n.status, "fail"):
				return 0, fmt.Errorf("%w: %s", errUpgradeFailed, n.status)
			}
		case <-exited:
			return 0, errors.New("the process exited before it was ready")
		case <-t.C:
			return 0, fmt.Errorf("not ready within %v", timeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

//go:build unix

package supervisor

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// upstream speaks sd_notify to our own service manager (systemd, when it
// started us with NOTIFY_SOCKET), so that Type=notify and
// Type=notify-reload units work: READY=1 once the first generation serves,
// RELOADING=1 with MONOTONIC_USEC at once for every reload signal and
// whenever an upgrade starts, READY=1 with a STATUS when the upgrade a
// reload caused, joined or was refused by ends (also when it failed:
// sd_notify has no word for that, and HAProxy's convention is a STATUS
// saying so), EXTEND_TIMEOUT_USEC while an upgrade takes long, STOPPING=1
// at stop, and WATCHDOG=1 if systemd asked for it.
//
// Nothing here blocks the loop: datagrams go, in order, through a queue to
// a goroutine of their own, each send bounded by sendTimeout. A service
// manager that does not read its socket costs dropped notifications (logged),
// never a supervisor that stops handling signals, exits and control calls.
type upstream struct {
	socket   string
	watchdog time.Duration
	log      *slog.Logger
	queue    chan []byte
	pending  sync.WaitGroup // queued, not yet sent
}

const (
	upstreamQueue = 64
	sendTimeout   = time.Second
)

func newUpstream(log *slog.Logger) *upstream {
	u := &upstream{socket: os.Getenv("NOTIFY_SOCKET"), log: log}
	if us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			u.watchdog = time.Duration(us) * time.Microsecond
		}
	}
	if u.socket != "" {
		u.queue = make(chan []byte, upstreamQueue)
		go u.run()
	}
	return u
}

// send queues one datagram of assignments; it never blocks.
func (u *upstream) send(assignments ...string) {
	if u.socket == "" {
		return
	}
	for i, a := range assignments {
		assignments[i] = strings.ReplaceAll(a, "\n", " ")
	}
	msg, err := sdnotify.Format(assignments...)
	if err != nil {
		u.log.Warn("handoff: notify service manager", "err", err)
		return
	}
	u.pending.Add(1)
	select {
	case u.queue <- msg:
	default:
		u.pending.Done()
		u.log.Warn("handoff: notify service manager: queue full, notification dropped", "msg", string(msg))
	}
}

func (u *upstream) run() {
	for msg := range u.queue {
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		err := sdnotify.SendContext(ctx, u.socket, msg)
		cancel()
		if err != nil {
			u.log.Warn("handoff: notify service manager", "err", err, "msg", string(msg))
		}
		u.pending.Done()
	}
}

// flush waits, up to d, until every queued datagram has been sent: the
// last ones (STOPPING=1, a final STATUS) must not die with the process.
func (u *upstream) flush(d time.Duration) {
	if u.socket == "" {
		return
	}
	done := make(chan struct{})
	go func() { u.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// watchdogInterval is how often to ping: half systemd's timeout.
func (u *upstream) watchdogInterval() time.Duration { return u.watchdog / 2 }

func (u *upstream) ping() {
	if u.watchdog > 0 {
		u.send("WATCHDOG=1")
	}
}

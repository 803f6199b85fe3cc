//go:build unix

package supervisor

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// upstream speaks sd_notify to our own service manager (systemd, when it
// started us with NOTIFY_SOCKET), so that Type=notify and
// Type=notify-reload units work: READY=1 once the first generation serves,
// RELOADING=1 with MONOTONIC_USEC when an upgrade starts, READY=1 with a
// STATUS when it ends (also when it failed: sd_notify has no word for
// that, and HAProxy's convention is a STATUS saying so), STOPPING=1 at
// stop, and WATCHDOG=1 if systemd asked for it.
type upstream struct {
	socket   string
	watchdog time.Duration
	log      *slog.Logger
}

func newUpstream(log *slog.Logger) *upstream {
	u := &upstream{socket: os.Getenv("NOTIFY_SOCKET"), log: log}
	if us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			u.watchdog = time.Duration(us) * time.Microsecond
		}
	}
	return u
}

func (u *upstream) send(assignments ...string) {
	if u.socket == "" {
		return
	}
	for i, a := range assignments {
		assignments[i] = strings.ReplaceAll(a, "\n", " ")
	}
	msg, err := sdnotify.Format(assignments...)
	if err == nil {
		err = sdnotify.Send(u.socket, msg)
	}
	if err != nil {
		u.log.Warn("handoff: notify service manager", "err", err)
	}
}

// watchdogInterval is how often to ping: half systemd's timeout.
func (u *upstream) watchdogInterval() time.Duration { return u.watchdog / 2 }

func (u *upstream) ping() {
	if u.watchdog > 0 {
		u.send("WATCHDOG=1")
	}
}

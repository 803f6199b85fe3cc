//go:build !windows

package handoff

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// notifyUpstream sends sd_notify assignments to systemd (or the supervisor,
// when supervised). Failures are logged, never fatal: readiness reporting to
// a service manager must not take down a serving process.
func (c *chain) notifyUpstream(assignments ...string) {
	target := c.upstream
	if c.isSupervised {
		target = c.notify
	}
	if target == "" {
		return
	}
	c.send(target, assignments...)
}

func (c *chain) send(target string, assignments ...string) error {
	msg, err := sdnotify.Format(assignments...)
	if err == nil {
		err = sdnotify.Send(target, msg)
	}
	if err != nil {
		c.log.Warn("handoff: notify", "socket", target, "message", strings.Join(assignments, " "), "err", err)
	}
	return err
}

// monotonicUsec is CLOCK_MONOTONIC in µs, which RELOADING=1 must carry.
func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return strconv.FormatInt(time.Now().UnixMicro(), 10)
	}
	return strconv.FormatInt(ts.Nano()/1000, 10)
}

func mainPID(pid int) string { return "MAINPID=" + strconv.Itoa(pid) }

func selfPID() string { return mainPID(os.Getpid()) }

//go:build !windows

package handoff

import (
	"strconv"
	"strings"
	"time"

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

// extendTimeout is the EXTEND_TIMEOUT_USEC an upgrade announces with its
// RELOADING=1: the longest it may legitimately take (the new generation's
// start, however slow, and its state transfer, are bounded by
// Options.ReadyTimeout; then the probation window), so that systemd's
// reload timeout does not cut an upgrade that is still within its bounds.
func (c *chain) extendTimeout() string {
	d := c.h.opts.ReadyTimeout + dialTimeout + time.Second
	if c.h.opts.Probation > 0 {
		d += c.h.opts.Probation
	}
	return "EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(d.Microseconds(), 10)
}

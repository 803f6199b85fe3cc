//go:build !windows

package handoff

import (
	"strings"

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

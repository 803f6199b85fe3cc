//go:build !windows

package handoff

import "github.com/handoff-go/handoff/internal/proto"

// The takeover path itself (checks, lock, atomic replacement of the
// listener) is internal/takeover's; these are the hooks of the shared
// upgrade code into it.

// takeoverEnv gives a child this generation starts the takeover path in
// the environment: launch removes every HANDOFF_ variable a parent was
// given, and the child, the same program, may read it only from there.
func (c *chain) takeoverEnv(env []string) []string {
	if c.tk == nil {
		return env
	}
	return append(env, proto.EnvTakeover+"="+c.tk.String())
}

// reclaimTakeover, at a rollback, takes the path back from the new
// generation that died holding it.
func (c *chain) reclaimTakeover() {
	if c.tk == nil || !c.tk.Listening() {
		return
	}
	if err := c.serveTakeover(); err != nil {
		c.log.Error("handoff: takeover: could not take the socket path back after the rollback: no takeover until the next generation", "path", c.tk.String(), "err", err)
	}
}

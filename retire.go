//go:build !windows

package handoff

import (
	"errors"
	"fmt"
	"time"
)

// Old generations never pile up, and the newest upgrade still runs: when
// Options.MaxDraining older generations are still draining as an upgrade
// starts, the oldest is retired instead of the upgrade being refused, as
// HAProxy's mworker-max-reloads does. Retiring is a message on the pid it
// is: SIGTERM, which to a draining generation means "close what is left
// now" (its drain deadline brought forward to now; see the signal table in
// the package documentation), then, if it is still there retireGrace later,
// SIGKILL. Each retirement is logged and counted.
//
// The pids come from HANDOFF_DRAINING, a list the previous generation
// wrote, and a pid may have been reused by an unrelated process since. A
// signal goes only to a pid that still names a process started no later
// than this one (every older generation did), through a pidfd opened
// before that check, so it cannot reach a process the pid names later
// (Linux: retire_linux.go). Where that check cannot be made the upgrade is
// refused as before (ErrTooManyDraining).

// errNotDraining: the pid no longer names the generation it did: it
// exited, and the pid may have been reused by a process younger than this
// one.
var errNotDraining = errors.New("the pid names no generation of ours any more")

// retireGrace is how long a retired generation has to close its
// connections and exit after SIGTERM, before SIGKILL.
const retireGrace = 2 * time.Second

// retireOldest retires the oldest generations of alive (oldest first) until
// fewer than Options.MaxDraining remain, and returns those that remain and
// the pids retired. Called with h.mu held; the waits run aside.
func (c *chain) retireOldest(alive []int) (remaining, retired []int, err error) {
	max := c.h.opts.MaxDraining
	for len(alive) >= max {
		pid := alive[0]
		err := retire(pid, c.log)
		if errors.Is(err, errNotDraining) {
			// The generation is gone (its pid perhaps reused): it drains
			// no more, and a process there is none of ours.
			c.log.Info("handoff: upgrade: a draining generation is gone: not counted", "pid", pid)
			alive = alive[1:]
			continue
		}
		if err != nil {
			return alive, retired, fmt.Errorf("%w: pids %v (Options.MaxDraining is %d): retire pid %d: %w", ErrTooManyDraining, alive, max, pid, err)
		}
		n := c.retired.Add(1)
		c.log.Warn("handoff: upgrade: Options.MaxDraining reached: retired the oldest draining generation (its connections are closed now)",
			"retired_pid", pid, "draining", len(alive), "max_draining", max, "retired_total", n)
		retired = append(retired, pid)
		alive = alive[1:]
	}
	return alive, retired, nil
}

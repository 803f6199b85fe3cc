//go:build !windows

package handoff

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/spawn"
)

// newGeneration is the process an upgrade hands over to, as the cutover,
// the probation and the rollback see it (upgrade.go): a child this
// generation started (childGen), or a newcomer somebody else started that
// took over through the takeover socket (newcomer, takeover_serve.go).
type newGeneration interface {
	// pid names it in logs, reports and the pid file; 0 when it runs in
	// a pid namespace this process cannot see into.
	pid() int
	// Done is closed when it has ended (or, for a newcomer, its channel).
	Done() <-chan struct{}
	// Kill ends it and returns once it has.
	Kill()
	// Describe says how it ended, for error messages.
	Describe() string
	// readyNotice is what systemd (or the supervisor) hears at cutover.
	readyNotice(next int) []string
	// stoppedOnPurpose reports, once Done is closed, that it was told to
	// stop (drained and exited 0, or SIGTERM) rather than crashed.
	stoppedOnPurpose() bool
	// hup passes an upgrade request on to it (trigger.go).
	hup() error
}

// childGen is a new generation this one started (self-upgrade).
type childGen struct{ *spawn.Process }

func (c childGen) pid() int { return c.Pid }

// readyNotice: the child is now the service's main process. We are still
// systemd's main process, so this is accepted even with NotifyAccess=main.
func (c childGen) readyNotice(next int) []string {
	return []string{launch.MainPID(c.Pid), "READY=1", "STATUS=generation " + strconv.Itoa(next) + " serving"}
}

func (c childGen) stoppedOnPurpose() bool { return stoppedOnPurpose(c.State()) }

func (c childGen) hup() error { return c.Signal(syscall.SIGHUP) }

// waitReady waits until the new generation p is ready (ready delivers a
// nil err), has failed (failure says why; cause is the error it reported,
// if any), or this generation began to drain meanwhile (stopped: p was
// killed and link abandoned). On failure the caller kills p.
func (c *chain) waitReady(next int, p newGeneration, ready <-chan readiness, link *successorLink) (r readiness, failure string, cause, stopped error) {
	h := c.h
	timer := time.NewTimer(h.opts.ReadyTimeout)
	defer timer.Stop()
	select {
	case r = <-ready:
		if r.err == nil {
			return r, "", nil, nil
		}
		failure, cause = r.err.Error(), r.err
		if errors.Is(r.err, proto.ErrVersion) {
			cause = fmt.Errorf("%w: %w", ErrProtocol, r.err)
			failure = cause.Error()
		}
	case <-p.Done():
		failure = "exited before it was ready: " + p.Describe()
	case <-timer.C:
		failure = "not ready within " + h.opts.ReadyTimeout.String()
	case <-h.draining:
		// A stop signal (or Drain, or Stop) while the new generation
		// starts: the service is stopping, and a new generation that
		// became ready now would serve on, orphaned (issue 10: "after a
		// SIGTERM to the pid file one generation kept running"). Kill
		// it; Kill waits until it is gone.
		p.Kill()
		c.succ.abandon(link, "this generation stopped")
		return r, "", nil, fmt.Errorf("%w: generation %d (pid %d) was killed before it was ready", ErrStopped, next, p.pid())
	}
	return r, failure, cause, nil
}

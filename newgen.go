//go:build !windows

package handoff

import (
	"strconv"
	"syscall"

	"github.com/handoff-go/handoff/internal/launch"
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

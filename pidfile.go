package handoff

import (
	"os"

	"github.com/handoff-go/handoff/internal/launch"
)

// preparePIDFile writes Options.PIDFile's content at New, beside its path:
// Ready only renames it into place. A disk that is full or read-only fails
// New, before this generation accepts anything, so a new generation that
// could not name itself in the PID file never takes over (its parent keeps
// serving and stays named there), instead of taking over unnamed and
// leaving `kill -HUP $(cat pidfile)` without a target once the old one
// removes its own pid at Stop.
func (h *Handoff) preparePIDFile() error {
	if h.opts.PIDFile == "" {
		return nil
	}
	p, err := launch.PreparePIDFile(h.opts.PIDFile, os.Getpid())
	if err != nil {
		return err
	}
	h.pidFile = p
	return nil
}

// takePIDFile returns the prepared PID file for Ready to commit, once.
func (h *Handoff) takePIDFile() *launch.PendingPIDFile {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pidFile
	h.pidFile = nil
	return p
}

// abortPIDFile removes a prepared PID file Ready never committed.
func (h *Handoff) abortPIDFile() { h.takePIDFile().Abort() }

// removePIDFiles removes, at Stop, the PID file and its .oldbin companion
// where they still name this process: a successor may already have written
// its own pid there.
func (h *Handoff) removePIDFiles() {
	if h.opts.PIDFile == "" {
		return
	}
	launch.RemovePIDFile(h.opts.PIDFile, os.Getpid())
	launch.RemovePIDFile(h.opts.PIDFile+".oldbin", os.Getpid())
}

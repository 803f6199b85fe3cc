package handoff

import (
	"errors"
	"os"
)

// Ready declares that this generation serves: its listeners are in place
// and its Serve loops run. It closes inherited descriptors no Listen call
// claimed, connects to the previous generation's handover channel (to
// receive its live connections; a State not settled by now is refused),
// puts the PID file (written at New) in place, and sends READY=1 to
// whoever waits for it:
// the previous generation (which then stops accepting and, after the
// probation window, drains), the supervisor, or systemd (with MAINPID, so a
// Type=notify unit follows the process that serves).
//
// Call it after your servers have started: connections that arrive earlier
// wait in the accept queue, none is refused. Until Ready, the previous
// generation keeps serving, and if Ready never comes it kills this process
// after Options.ReadyTimeout. Calling Ready again does nothing; after Stop
// it returns ErrStopped. An error (the PID file, or the message to the
// waiting side, could not be written) does not undo Ready: this generation
// serves either way.
func (h *Handoff) Ready() error {
	h.mu.Lock()
	switch h.phase {
	case PhaseStarting:
	case PhaseStopped:
		h.mu.Unlock()
		return ErrStopped
	default:
		h.mu.Unlock()
		return nil
	}
	h.setPhaseLocked(PhaseServing)
	h.mu.Unlock()

	var errs []error
	if err := h.takePIDFile().Commit(); err != nil { // written at New (pidfile.go)
		errs = append(errs, err)
	}
	if h.links != nil {
		errs = append(errs, h.links.ready()...)
	}
	h.log.Info("handoff: ready", "generation", h.Generation(), "pid", os.Getpid())
	return errors.Join(errs...)
}

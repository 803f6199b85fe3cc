package handoff

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/proto"
)

// Ready declares that this generation serves: its listeners are in place
// and its Serve loops run. It closes inherited descriptors no Listen call
// claimed, connects to the previous generation's handover channel (to
// receive its live connections; a State not settled by now is refused),
// writes the PID file, and sends READY=1 to whoever waits for it:
// the previous generation (which then stops accepting and, after the
// probation window, drains), the supervisor, or systemd (with MAINPID, so a
// Type=notify unit follows the process that serves).
//
// Call it after your servers have started: connections that arrive earlier
// wait in the accept queue, none is refused. Until Ready, the previous
// generation keeps serving, and if Ready never comes it kills this process
// after Options.ReadyTimeout. Calling Ready again does nothing.
func (h *Handoff) Ready() error {
	h.mu.Lock()
	switch h.phase {
	case Starting:
	case Stopped:
		h.mu.Unlock()
		return ErrStopped
	default:
		h.mu.Unlock()
		return nil
	}
	var unused []*inheritedFD
	for _, in := range h.inherited {
		if !in.claimed {
			in.claimed = true
			unused = append(unused, in)
		}
	}
	h.setPhase(Serving)
	h.mu.Unlock()

	for _, in := range unused {
		h.log.Info("handoff: closing inherited fd nobody asked for", "fd", in.FD, "name", in.Name)
		unix.Close(in.FD)
	}
	var errs []error
	if h.opts.PIDFile != "" {
		if err := writePIDFile(h.opts.PIDFile, os.Getpid()); err != nil {
			errs = append(errs, err)
		}
	}
	// Connect to the previous generation before it hears we are ready:
	// it drains from then on, and passes its connections on this channel.
	h.connectPredecessor()
	status := "STATUS=serving, generation " + strconv.Itoa(h.generation)
	ready := []string{"READY=1", selfPID(), proto.ReadyField + "=" + strconv.Itoa(proto.Version), status}
	ready = append(ready, h.announceHandover()...)
	switch {
	case h.fromParent || h.supervised:
		if err := h.send(h.notify, ready...); err != nil {
			errs = append(errs, fmt.Errorf("handoff: ready: tell the previous generation: %w", err))
		}
	default:
		h.notifyUpstream(ready...)
	}
	h.switchStderr()
	h.log.Info("handoff: ready", "generation", h.generation, "pid", os.Getpid())
	return errors.Join(errs...)
}

// switchStderr moves the parent's real stderr onto fd 2: until now fd 2 was
// a pipe into the parent, which is about to drain and exit.
func (h *Handoff) switchStderr() {
	h.mu.Lock()
	fd := h.stderrFD
	h.stderrFD = -1
	h.mu.Unlock()
	if fd < 0 {
		return
	}
	if err := dup2(fd, 2); err != nil {
		h.log.Warn("handoff: move stderr off the parent's pipe", "err", err)
	}
	unix.Close(fd)
}

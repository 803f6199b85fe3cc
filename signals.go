package handoff

import (
	"errors"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/handoff-go/handoff/internal/launch"
)

// signalWatcher turns signals into upgrades and drains, with nginx's
// meanings: HUP and USR2 upgrade (not on Windows, which has neither
// signal nor upgrades), TERM, INT and QUIT drain and exit (on Windows:
// Ctrl-C, Ctrl-Break and the console's close, logoff and shutdown events,
// which Go delivers as os.Interrupt and SIGTERM).
type signalWatcher struct {
	ch   chan os.Signal
	done chan struct{}
}

func (h *Handoff) watchSignals() *signalWatcher {
	w := &signalWatcher{ch: make(chan os.Signal, 8), done: make(chan struct{})}
	sigs := []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT}
	if !h.supervised() {
		sigs = append(sigs, upgradeSignals...)
	}
	signal.Notify(w.ch, sigs...)
	go func() {
		for {
			select {
			case <-w.done:
				return
			case sig := <-w.ch:
				h.onSignal(sig)
			}
		}
	}()
	return w
}

func (h *Handoff) onSignal(sig os.Signal) {
	if isUpgradeSignal(sig) {
		// An upgrade blocks until its outcome; run it aside so that a
		// TERM arriving meanwhile is still handled.
		go h.upgradeOnSignal(sig)
		return
	}
	if p, _ := h.Phase(); p == PhaseDraining {
		if h.links != nil && h.links.parentDeathEcho() {
			// Under the supervisor the drain signal is also the
			// parent-death signal, and the kernel sends it again as each
			// of the dying supervisor's threads exits: that is not an
			// operator's second stop. Finish what is in flight.
			h.log.Info("handoff: stop signal ignored: the supervisor is gone and this is its parent-death signal again; the drain goes on", "signal", sig)
			return
		}
		h.log.Info("handoff: second stop signal: closing connections now", "signal", sig)
		h.hardOnce.Do(func() { close(h.hard) })
		return
	}
	if h.delayStop(sig) { // Options.StopDelay (stopdelay.go)
		return
	}
	h.log.Info("handoff: draining on signal", "signal", sig)
	h.Drain()
}

// upgradeOnSignal runs the upgrade a signal asks for, and answers systemd
// for it whatever becomes of it: a service manager that sent the signal
// (Type=notify-reload) waits for RELOADING=1 with a fresh MONOTONIC_USEC,
// then READY=1, and a reload signal that gets neither hangs `systemctl
// reload` until its timeout. RELOADING=1 goes at once (the upgrade this
// signal causes, or the follow-up it queues, may start later); READY=1
// with a STATUS saying what happened goes when that upgrade ends. An
// upgrade that runs sends its own READY=1 (upgrade.go); a refusal and a
// pass-on are answered here.
func (h *Handoff) upgradeOnSignal(sig os.Signal) {
	phase, _ := h.Phase()
	// Nothing to say while starting (systemd waits for the first READY=1,
	// which Ready sends), or while draining or stopped (this generation
	// is no longer what systemd reloads).
	answer := h.links != nil && (phase == PhaseServing || phase == PhaseUpgrading || phase == PhaseProbation)
	if answer {
		h.links.notifyUpstream(launch.Reloading("reload requested (" + sig.String() + ")")...)
	}
	rep, err := h.UpgradeReport()
	switch {
	case err == nil:
		if rep.Waited {
			h.log.Info("handoff: upgrade on signal done, after waiting for the one that ran when it came", "signal", sig, "generation", rep.Generation, "pid", rep.PID)
		}
		return
	case errors.Is(err, ErrPassedOn):
		h.log.Info("handoff: upgrade on signal passed on to the new generation", "signal", sig, "pid", rep.PassedTo)
		return // passOn answered systemd
	case errors.Is(err, ErrNotServing), errors.Is(err, ErrTooManyDraining), errors.Is(err, ErrNotSupported), errors.Is(err, ErrSupervised):
		h.log.Warn("handoff: signal refused", "signal", sig, "err", err)
		if answer && rep.PID == 0 {
			h.links.notifyUpstream("READY=1", "STATUS=upgrade refused ("+sig.String()+"): "+oneLine(err.Error()))
		}
	}
	// Other outcomes (failed, rolled back, stopped) were logged and
	// answered by the upgrade that ran.
}

func isUpgradeSignal(sig os.Signal) bool {
	for _, s := range upgradeSignals {
		if s == sig {
			return true
		}
	}
	return false
}

func (w *signalWatcher) stop() {
	signal.Stop(w.ch)
	close(w.done)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

package handoff

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
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
		// TERM arriving meanwhile is still handled. A signal storm is
		// coalesced: only one upgrade runs, the others are refused.
		go func() {
			err := h.Upgrade()
			switch {
			case errors.Is(err, ErrUpgradeInProgress):
				h.log.Info("handoff: signal ignored: an upgrade is already running", "signal", sig)
			case errors.Is(err, ErrNotServing), errors.Is(err, ErrTooManyDraining), errors.Is(err, ErrNotSupported):
				h.log.Warn("handoff: signal ignored", "signal", sig, "err", err)
			}
		}()
		return
	}
	if p, _ := h.Phase(); p == PhaseDraining {
		h.log.Info("handoff: second stop signal: closing connections now", "signal", sig)
		h.hardOnce.Do(func() { close(h.hard) })
		return
	}
	h.log.Info("handoff: draining on signal", "signal", sig)
	h.Drain()
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

package handoff

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

// The Kubernetes lame duck (Options.StopDelay). Endpoints are removed
// asynchronously after a pod is told to stop (kubernetes#43576): for a few
// seconds new connections still arrive, and a server that stops accepting
// at SIGTERM refuses them. With StopDelay the first stop signal only fails
// readiness; accepting and answering go on for the delay, then the drain
// starts as it would have at the signal.

// delayStop handles a stop signal when Options.StopDelay is set, and
// reports whether it did: the first one starts the delay, a second one
// (or Drain) drains at once. Under the handoff supervisor the stop signal
// also means "your successor serves": the supervisor's own --stop-delay
// covers the pod, so the library does not delay there.
func (h *Handoff) delayStop(sig os.Signal) bool {
	d := h.opts.StopDelay
	if d <= 0 || h.supervised() || !h.lameDuck.CompareAndSwap(false, true) {
		return false
	}
	if p, _ := h.Phase(); p == PhaseDraining || p == PhaseStopped {
		return false
	}
	h.log.Info("handoff: stop delay: still serving, readiness fails", "signal", sig, "delay", d)
	time.AfterFunc(d, func() {
		h.log.Info("handoff: stop delay over: draining", "signal", sig)
		h.Drain()
	})
	return true
}

// ReadinessHandler answers 200 "ready" while this generation serves (or
// upgrades: it still accepts), and 503 otherwise: before Ready, in
// probation (its successor accepts), while it drains, and during
// Options.StopDelay after a stop signal. Mount it where a load balancer
// or a Kubernetes readiness probe looks (for example /ready); it never
// changes what the server does, only what it says.
func (h *Handoff) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := h.Phase()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if (p == PhaseServing || p == PhaseUpgrading) && !h.lameDuck.Load() {
			fmt.Fprintln(w, "ready")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		if h.lameDuck.Load() && p != PhaseDraining && p != PhaseStopped {
			fmt.Fprintln(w, "stopping: stop delay")
			return
		}
		fmt.Fprintln(w, p)
	})
}

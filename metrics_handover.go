//go:build !windows

package handoff

import (
	"context"
	"errors"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
)

// Counters cumulative across generations (see Collector): each generation
// hands its totals to its successor in a counters frame of the handover
// channel (internal/handover, protocol version 2) when the successor
// connects, and again at Stop, after its drain; the successor keeps the
// last it got and adds it to its own.

// giveCounters sends this generation's totals to snd. The final one, at
// Stop, first waits for the predecessor's own final counts if it still
// drains (the chain A→B→C with A draining while B hands over to C): until
// A's channel ends, a second stop signal, or Options.DrainTimeout, which
// caps A's drain too. A failure is logged: the successor goes on without
// these counts.
func (s *successor) giveCounters(ctx context.Context, snd *handover.Sender, final bool) {
	if final && s.c.pred != nil {
		s.c.pred.awaitEnd(s.h)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := snd.SendCounters(ctx, s.h.stats.totals())
	switch {
	case err == nil:
	case errors.Is(err, handover.ErrNotInVersion):
		s.h.log.Debug("handoff: metrics: the next generation is of an older build and takes no counters", "err", err)
	default:
		s.h.log.Warn("handoff: metrics: counters not handed over; the next generation's start from its own", "err", err, "final", final)
	}
}

// inherit takes the counts the predecessor handed over.
func (p *predecessor) inherit(c handover.Counters) {
	p.stats.inherit(c)
	p.log.Debug("handoff: metrics: counters received from the previous generation", "series", len(c))
}

// awaitEnd waits, bounded, until the predecessor's channel has ended (it
// finished, failed or was never used), so that its final counts are in.
func (p *predecessor) awaitEnd(h *Handoff) {
	p.mu.Lock()
	receiving := p.receiving
	p.mu.Unlock()
	if !receiving {
		return
	}
	select {
	case <-p.ended:
		return
	default:
	}
	h.log.Info("handoff: metrics: waiting for the previous generation's final counts (it still drains)")
	t := time.NewTimer(h.opts.DrainTimeout)
	defer t.Stop()
	select {
	case <-p.ended:
	case <-h.hardStop():
	case <-t.C:
		h.log.Warn("handoff: metrics: the previous generation's final counts did not come; they are lost", "waited", h.opts.DrainTimeout)
	}
}

// endReceiving closes ended, once.
func (p *predecessor) endReceiving() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.ended:
	default:
		close(p.ended)
	}
}

// closeQuit ends the receiving, once.
func (p *predecessor) closeQuit() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
}

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
// connects, again whenever its own predecessor's counts arrive (a chain
// A→B→C where A still drains while B has handed over to C: B forwards A's
// final counts to C), and at Stop, after its drain. The successor keeps
// the last it got and adds it to its own.

// giveCounters sends this generation's totals to snd. A failure is
// logged: the successor goes on without these counts.
func (s *successor) giveCounters(ctx context.Context, snd *handover.Sender) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := snd.SendCounters(ctx, s.h.stats.totals())
	switch {
	case err == nil:
	case errors.Is(err, handover.ErrNotInVersion):
		s.h.log.Debug("handoff: metrics: the next generation is of an older build and takes no counters", "err", err)
	case errors.Is(err, handover.ErrClosed):
		// Finished or aborted meanwhile: nothing more goes to it.
	default:
		s.h.log.Warn("handoff: metrics: counters not handed over; the next generation's start from its own", "err", err)
	}
}

// forwardCounters hands the totals on to the generation that took over,
// if one did and its channel lives: the predecessor's counts just
// changed them. Called on the predecessor's receiving goroutine.
func (s *successor) forwardCounters() {
	s.mu.Lock()
	var snd *handover.Sender
	if s.link != nil {
		snd = s.link.sender
	}
	s.mu.Unlock()
	if snd == nil || !snd.Alive() {
		return
	}
	s.giveCounters(context.Background(), snd)
	s.h.log.Debug("handoff: metrics: the previous generation's counts were passed on to the next")
}

// inherit takes the counts the predecessor handed over.
func (p *predecessor) inherit(c handover.Counters) {
	p.log.Debug("handoff: metrics: counters received from the previous generation", "series", len(c))
	p.stats.inherit(c)
}

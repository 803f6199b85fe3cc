//go:build !windows

package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/metrics"
	"github.com/handoff-go/handoff/internal/proto"
)

// The old generation's end of the handover channel (internal/handover): it
// listens on a private unix socket, the new generation dials it before it
// declares itself ready, and this side passes its state blob (Options.
// SaveState) as soon as the new one connects, then, once it drains, its live
// connections: idle HTTP/1.1 keep-alive connections (migrate.go) and the
// program's own (PassConns). The new generation's end is predecessor.go.
//
// Who introduces them:
//   - Self-upgrade: the old generation creates the socket for the upgrade
//     and passes its path in HANDOFF_HANDOVER_SOCKET, with its own pid.
//   - Under the supervisor: every worker creates its socket at Ready and
//     announces it in its READY=1 datagram (proto.HandoverField); the
//     supervisor passes it to the worker that replaces this one, with this
//     worker's pid. The old worker accepts only a peer of its uid that
//     descends from the supervisor (Linux), or, when the supervisor can
//     be taken over (proto.EnvHandoverPeer), any peer of its uid: the
//     workers of the supervisor that takes over descend from that one.
//
// The new side checks the old side's pid; both check the uid.

// dialTimeout bounds the new generation's connection to the old one's
// socket; past it the new generation serves anyway (the old one drains).
const dialTimeout = 5 * time.Second

// successor is this generation's end of the channel to the generation that
// replaces it.
type successor struct {
	h *Handoff
	c *chain

	mu   sync.Mutex     // guards link and every link's sender
	link *successorLink // the channel the successor uses; nil when none
}

// successorLink is one offer of the channel: the socket and what the
// successor opened on it.
type successorLink struct {
	connected chan struct{} // closed when a successor connected (self-upgrade)
	settled   chan struct{} // closed when sender is final (self-upgrade) or usable (supervised)
	cancel    context.CancelFunc
	sender    *handover.Sender // guarded by successor.mu
}

// offer starts accepting the successor on hl. Self-upgrade (many false):
// one peer, the child of pid want.PID, until ReadyTimeout. Supervised
// (many true): whichever sibling connected last is the successor, until
// Stop. The link owns hl.
func (s *successor) offer(hl *handover.Listener, want handover.Peer, many bool) *successorLink {
	var ctx context.Context
	var cancel context.CancelFunc
	if many {
		ctx, cancel = context.WithCancel(context.Background())
	} else {
		ctx, cancel = context.WithTimeout(context.Background(), s.h.opts.ReadyTimeout+dialTimeout)
	}
	link := &successorLink{connected: make(chan struct{}), settled: make(chan struct{}), cancel: cancel}
	go func() {
		select {
		case <-s.h.stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	if many {
		close(link.settled)
		go s.acceptMany(ctx, hl, want, link)
	} else {
		go s.acceptOne(ctx, hl, want, link)
	}
	return link
}

func (s *successor) acceptOne(ctx context.Context, hl *handover.Listener, want handover.Peer, link *successorLink) {
	defer close(link.settled)
	defer hl.Close()
	snd, err := hl.Accept(ctx, want)
	if err != nil {
		if ctx.Err() == nil {
			s.h.log.Warn("handoff: handover: the new generation did not connect; connections will drain instead", "pid", want.PID, "err", err)
		}
		return
	}
	close(link.connected)
	s.giveState(ctx, snd)
	s.giveCounters(ctx, snd) // metrics_handover.go
	s.mu.Lock()
	link.sender = snd
	s.mu.Unlock()
}

func (s *successor) acceptMany(ctx context.Context, hl *handover.Listener, want handover.Peer, link *successorLink) {
	defer hl.Close()
	for {
		snd, err := hl.Accept(ctx, want)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, handover.ErrPeer), errors.Is(err, handover.ErrProtocol), errors.Is(err, handover.ErrVersion):
			// A stranger or a broken peer: refused, the socket stays open
			// for the real successor.
			s.h.log.Warn("handoff: handover: refused a connection", "err", err)
			continue
		case err != nil:
			s.h.log.Warn("handoff: handover: the socket failed; connections will drain at the next upgrade", "err", err)
			return
		}
		s.h.log.Debug("handoff: handover: the next generation connected", "pid", snd.PeerPID())
		s.giveState(ctx, snd)
		s.giveCounters(ctx, snd) // metrics_handover.go
		s.mu.Lock()
		prev := link.sender
		link.sender = snd
		s.mu.Unlock()
		if prev != nil {
			prev.Abort("a newer generation connected")
		}
	}
}

// connectedBy tells whether the successor connected to link by the time
// it declared itself ready (it connects before it sends READY=1; the wait
// covers this side's accept catching up). A successor that did not is not
// a handoff program, or could not connect: the link is dropped, so the
// drain does not wait for it.
func (s *successor) connectedBy(link *successorLink) bool {
	if link == nil {
		return false
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-link.connected:
		return true
	case <-t.C:
		s.h.log.Info("handoff: handover: the new generation did not connect its channel (not a handoff program?); connections will drain")
		s.abandon(link, "too late")
		return false
	}
}

// abandon ends a link that will not be used (failed upgrade, rollback).
func (s *successor) abandon(link *successorLink, reason string) {
	if link == nil {
		return
	}
	link.cancel()
	<-link.settled
	s.mu.Lock()
	snd := link.sender
	link.sender = nil
	s.mu.Unlock()
	if snd != nil {
		snd.Abort(reason)
	}
}

// install makes link the channel the successor uses (cutover).
func (s *successor) install(link *successorLink) {
	s.mu.Lock()
	s.link = link
	s.mu.Unlock()
}

// uninstall takes the installed link back (rollback) and returns it.
func (s *successor) uninstall() *successorLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	link := s.link
	s.link = nil
	return link
}

// announce, under the supervisor, opens this worker's socket for the
// worker that will replace it, and returns the READY=1 fields that tell the
// supervisor where it is.
func (s *successor) announce() []string {
	if !s.c.isSupervised {
		return nil
	}
	hl, err := handover.Listen("")
	if err != nil {
		s.h.log.Warn("handoff: handover: no socket for the next generation; connections will drain instead", "err", err)
		return nil
	}
	want := handover.Peer{Ancestor: s.c.supervisorPID}
	if s.c.successorByUID {
		// A supervisor that can be taken over: the newcomer supervisor's
		// workers descend from it, not from ours. The takeover trusts the
		// uid, and so does this socket then (the uid is checked always).
		want = handover.Peer{}
	}
	s.install(s.offer(hl, want, true))
	fields := []string{proto.HandoverField + "=" + hl.Path()}
	if s.h.opts.SaveState != nil {
		fields = append(fields, proto.StateField+"=1")
	}
	return fields
}

// channel returns the channel to the generation that took over, waiting
// (bounded by ctx) for it to settle, or nil: no upgrade happened, the
// successor never connected, or this generation is not draining for a
// successor.
func (s *successor) channel(ctx context.Context) *handover.Sender {
	s.mu.Lock()
	link := s.link
	s.mu.Unlock()
	if link == nil {
		return nil
	}
	select {
	case <-link.settled:
	case <-ctx.Done():
		return nil
	}
	s.h.mu.Lock()
	draining := s.h.phase == PhaseDraining || s.h.phase == PhaseStopped
	superseded := s.h.superseded
	s.h.mu.Unlock()
	if !draining || !(superseded || s.c.isSupervised) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if link.sender != nil && !link.sender.Alive() {
		// The successor that connected last has gone (a failed upgrade
		// under the supervisor): never send into a dead channel.
		return nil
	}
	return link.sender
}

// finish ends the channel to the successor at Stop, once every connection
// was passed, and stops offering it.
func (s *successor) finish() {
	s.mu.Lock()
	link := s.link
	s.link = nil
	var snd *handover.Sender
	if link != nil {
		snd = link.sender
		link.sender = nil
	}
	s.mu.Unlock()
	if link == nil {
		return
	}
	link.cancel()
	if snd == nil {
		return
	}
	s.giveCounters(context.Background(), snd) // after the drain: its counts are in (metrics_handover.go)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := snd.Finish(ctx); err != nil {
		s.h.log.Warn("handoff: handover: finish", "err", err)
	}
}

// giveState streams Options.SaveState to a successor that just connected.
// A failure is logged: the successor starts without the state.
func (s *successor) giveState(ctx context.Context, snd *handover.Sender) {
	save := s.h.opts.SaveState
	if save == nil {
		return
	}
	start := time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(save(pw)) }()
	src := &countReader{r: pr}
	err := snd.SendState(ctx, s.h.opts.StateVersion, src)
	// Unblocks SaveState if the blob was refused or the channel failed.
	pr.CloseWithError(errors.New("handoff: the state is no longer read"))
	if err != nil {
		s.h.log.Warn("handoff: state: not handed over", "err", err, "bytes", src.n)
		return
	}
	s.h.stats.add(metrics.StateBytes.Name, float64(src.n))
	s.h.log.Info("handoff: state handed over", "bytes", src.n, "took", time.Since(start).Round(time.Millisecond))
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// senderPasser passes connections over the handover channel.
type senderPasser struct{ s *handover.Sender }

func (p senderPasser) alive() bool { return p.s.Alive() }

func (p senderPasser) pass(ctx context.Context, conns []outgoing) (int, error) {
	hc := make([]handover.Conn, len(conns))
	for i, c := range conns {
		hc[i] = handover.Conn{Socket: c.sock, Buffered: c.buffered, Meta: c.meta}
	}
	n, err := p.s.SendConns(ctx, hc)
	return n, handoverError(err)
}

// handoverError maps internal/handover's errors to this package's
// sentinels, keeping the cause.
func handoverError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, handover.ErrUnconfirmed):
		return fmt.Errorf("%w: %w: %w", ErrUnconfirmed, ErrHandover, err)
	case errors.Is(err, handover.ErrChecksum):
		return fmt.Errorf("%w: %w", ErrStateCorrupt, err)
	case errors.Is(err, handover.ErrVersion):
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return fmt.Errorf("%w: %w", ErrHandover, err)
}

package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/proto"
)

// The handover channel between two generations (internal/handover): the old
// generation listens on a private unix socket, the new one dials it before it
// declares itself ready, and the old one passes its state blob (Options.
// SaveState) as soon as the new one connects, then, once it drains, its live
// connections: idle HTTP/1.1 keep-alive connections (migrate.go) and the
// program's own (HandOver).
//
// Who introduces them:
//   - Self-upgrade: the old generation creates the socket for the upgrade
//     and passes its path in HANDOFF_HANDOVER_SOCKET, with its own pid.
//   - Under the supervisor: every worker creates its socket at Ready and
//     announces it in its READY=1 datagram (proto.HandoverField); the
//     supervisor passes it to the worker that replaces this one, with this
//     worker's pid. The old worker accepts only a peer of its uid that
//     descends from the supervisor (Linux).
//
// The new side checks the old side's pid; both check the uid.

// Tags that open the metadata of each connection on the channel, so the
// new generation knows who takes it.
const (
	metaHTTP = 'h' // followed by the listener's address: an HTTP/1.1 connection for Serve
	metaUser = 'u' // followed by the program's metadata: for HandedOver
)

// dialTimeout bounds the new generation's connection to the old one's
// socket; past it the new generation serves anyway (the old one drains).
const dialTimeout = 5 * time.Second

// successorLink is the old generation's end: the socket it offers and
// the channel its successor opened on it.
type successorLink struct {
	connected chan struct{} // closed when a successor connected (self-upgrade)
	settled   chan struct{} // closed when sender is final (self-upgrade) or usable (supervised)
	cancel    context.CancelFunc
	sender    *handover.Sender // guarded by Handoff.mu
}

// offer starts accepting the successor on hl. Self-upgrade (many false):
// one peer, the child of pid want.PID, until ReadyTimeout. Supervised
// (many true): whichever sibling connected last is the successor, until
// Stop. The link owns hl.
func (h *Handoff) offer(hl *handover.Listener, want handover.Peer, many bool) *successorLink {
	var ctx context.Context
	var cancel context.CancelFunc
	if many {
		ctx, cancel = context.WithCancel(context.Background())
	} else {
		ctx, cancel = context.WithTimeout(context.Background(), h.opts.ReadyTimeout+dialTimeout)
	}
	link := &successorLink{connected: make(chan struct{}), settled: make(chan struct{}), cancel: cancel}
	go func() {
		select {
		case <-h.stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	if many {
		close(link.settled)
		go h.acceptMany(ctx, hl, want, link)
	} else {
		go h.acceptOne(ctx, hl, want, link)
	}
	return link
}

func (h *Handoff) acceptOne(ctx context.Context, hl *handover.Listener, want handover.Peer, link *successorLink) {
	defer close(link.settled)
	defer hl.Close()
	s, err := hl.Accept(ctx, want)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("handoff: handover: the new generation did not connect; connections will drain instead", "pid", want.PID, "err", err)
		}
		return
	}
	close(link.connected)
	h.giveState(ctx, s)
	h.mu.Lock()
	link.sender = s
	h.mu.Unlock()
}

func (h *Handoff) acceptMany(ctx context.Context, hl *handover.Listener, want handover.Peer, link *successorLink) {
	defer hl.Close()
	for {
		s, err := hl.Accept(ctx, want)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, handover.ErrPeer), errors.Is(err, handover.ErrProtocol), errors.Is(err, handover.ErrVersion):
			// A stranger or a broken peer: refused, the socket stays open
			// for the real successor.
			h.log.Warn("handoff: handover: refused a connection", "err", err)
			continue
		case err != nil:
			h.log.Warn("handoff: handover: the socket failed; connections will drain at the next upgrade", "err", err)
			return
		}
		h.log.Debug("handoff: handover: the next generation connected", "pid", s.PeerPID())
		h.giveState(ctx, s)
		h.mu.Lock()
		prev := link.sender
		link.sender = s
		h.mu.Unlock()
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
func (h *Handoff) connectedBy(link *successorLink) bool {
	if link == nil {
		return false
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-link.connected:
		return true
	case <-t.C:
		h.log.Info("handoff: handover: the new generation did not connect its channel (not a handoff program?); connections will drain")
		h.abandon(link, "too late")
		return false
	}
}

// abandon ends a link that will not be used (failed upgrade, rollback).
func (h *Handoff) abandon(link *successorLink, reason string) {
	if link == nil {
		return
	}
	link.cancel()
	<-link.settled
	h.mu.Lock()
	s := link.sender
	link.sender = nil
	h.mu.Unlock()
	if s != nil {
		s.Abort(reason)
	}
}

// announceHandover, under the supervisor, opens this worker's socket for
// the worker that will replace it, and returns the READY=1 fields that
// tell the supervisor where it is.
func (h *Handoff) announceHandover() []string {
	if !h.supervised {
		return nil
	}
	hl, err := handover.Listen("")
	if err != nil {
		h.log.Warn("handoff: handover: no socket for the next generation; connections will drain instead", "err", err)
		return nil
	}
	link := h.offer(hl, handover.Peer{Ancestor: h.supervisorPID}, true)
	h.mu.Lock()
	h.link = link
	h.mu.Unlock()
	fields := []string{proto.HandoverField + "=" + hl.Path()}
	if h.opts.SaveState != nil {
		fields = append(fields, proto.StateField+"=1")
	}
	return fields
}

// successorChannel returns the channel to the generation that took over,
// waiting (bounded by ctx) for it to settle, or nil: no upgrade happened,
// the successor never connected, or this generation is not draining for a
// successor.
func (h *Handoff) successorChannel(ctx context.Context) *handover.Sender {
	h.mu.Lock()
	link := h.link
	h.mu.Unlock()
	if link == nil {
		return nil
	}
	select {
	case <-link.settled:
	case <-ctx.Done():
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	draining := h.phase == Draining || h.phase == Stopped
	if !draining || !(h.handedOver || h.supervised) {
		return nil
	}
	return link.sender
}

// finishHandover ends the channel to the successor at Stop, once every
// connection was passed, and stops offering it.
func (h *Handoff) finishHandover() {
	h.mu.Lock()
	link := h.link
	h.link = nil
	var s *handover.Sender
	if link != nil {
		s = link.sender
		link.sender = nil
	}
	h.mu.Unlock()
	if link == nil {
		return
	}
	link.cancel()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.Finish(ctx); err != nil {
		h.log.Warn("handoff: handover: finish", "err", err)
	}
}

// ---- new generation ----

// readHandoverEnv takes the predecessor's channel from the environment.
func (h *Handoff) readHandoverEnv(take func(string) string) error {
	h.handoverPath = take(proto.EnvHandover)
	pid := take(proto.EnvHandoverPID)
	state := take(proto.EnvState)
	if h.handoverPath == "" {
		return nil
	}
	switch {
	case pid != "":
		n, err := strconv.Atoi(pid)
		if err != nil || n < 1 {
			return fmt.Errorf("handoff: %s=%q: not a pid", proto.EnvHandoverPID, pid)
		}
		h.handoverPID = n
	case h.fromParent:
		h.handoverPID = os.Getppid()
	}
	h.expectState = state == "1"
	return nil
}

// dial connects to the previous generation's socket, once.
func (h *Handoff) dial(ctx context.Context) (*handover.Receiver, error) {
	h.dialOnce.Do(func() {
		if h.handoverPath == "" {
			h.dialErr = errors.New("no previous generation to connect to")
			return
		}
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		r, err := handover.Dial(ctx, h.handoverPath, handover.Peer{PID: h.handoverPID})
		if err != nil {
			h.dialErr = fmt.Errorf("connect to the previous generation: %w", err)
			return
		}
		h.mu.Lock()
		h.recv = r
		h.mu.Unlock()
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recv, h.dialErr
}

// connectPredecessor runs in Ready, before READY=1 is sent: the old
// generation drains once it learns of our readiness, and by then the
// channel must be up.
func (h *Handoff) connectPredecessor() {
	if h.handoverPath == "" {
		h.closeHandedOver()
		return
	}
	r, err := h.dial(context.Background())
	if err != nil {
		h.log.Warn("handoff: handover: the previous generation's connections will drain instead", "err", err)
		h.closeHandedOver()
		return
	}
	go h.receive(r)
}

// closePredecessor, at Stop, closes the channel to the previous
// generation: connections it had not passed yet stay its own.
func (h *Handoff) closePredecessor() {
	h.mu.Lock()
	r, early := h.recv, h.early
	h.early = nil
	h.mu.Unlock()
	for _, it := range early {
		if it.Conn != nil {
			it.Conn.Close()
		}
	}
	if r != nil {
		r.Close()
	}
	h.closeHandedOver()
}

// takeHandedOver registers l to receive the HTTP connections the previous
// generation passes for its address.
func (h *Handoff) takeHandedOver(l *listener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.migrating == nil {
		h.migrating = make(map[string]*listener)
	}
	h.migrating[l.Addr().String()] = l
}

// receive takes what the previous generation passes until it finishes or
// this generation stops, and gives each connection to whoever takes it.
func (h *Handoff) receive(r *handover.Receiver) {
	defer h.closeHandedOver()
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	h.mu.Lock()
	early := h.early
	h.early = nil
	h.mu.Unlock()
	var n receiveCounts
	var first time.Time
	for _, it := range early {
		h.route(ctx, it, &n)
	}
	for {
		it, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				h.log.Warn("handoff: handover: receive", "err", err, "received", n.http+n.user)
			}
			break
		}
		if it.State != nil {
			it.State.Refuse("the new generation did not ask for it: Handoff.State must be called before Ready")
			continue
		}
		if first.IsZero() {
			first = time.Now()
		}
		h.route(ctx, it, &n)
	}
	if n.http+n.user+n.dropped > 0 {
		h.log.Info("handoff: handover: connections received", "http", n.http, "own", n.user, "dropped", n.dropped,
			"took", time.Since(first).Round(time.Millisecond))
	}
}

type receiveCounts struct{ http, user, dropped int }

// route gives a received connection to the listener or the program that
// takes it, or closes it when nobody does.
func (h *Handoff) route(ctx context.Context, it handover.Item, n *receiveCounts) {
	if it.Conn == nil {
		return
	}
	if len(it.Meta) > 0 {
		switch it.Meta[0] {
		case metaHTTP:
			h.mu.Lock()
			l := h.migrating[string(it.Meta[1:])]
			h.mu.Unlock()
			// The HTTP side passes only connections with nothing buffered.
			if l != nil && len(it.Buffered) == 0 && l.inject(it.Conn) {
				n.http++
				return
			}
		case metaUser:
			h.mu.Lock()
			ch := h.conns
			h.mu.Unlock()
			if ch != nil {
				c := Conn{Conn: it.Conn, Buffered: it.Buffered, Meta: bytes.Clone(it.Meta[1:])}
				select {
				case ch <- c:
					n.user++
					return
				case <-ctx.Done():
				}
			}
		}
	}
	if n.dropped == 0 {
		h.log.Warn("handoff: handover: a connection nobody takes was closed (call HandedOver before Ready; Serve every listener before Ready)",
			"meta", clipMeta(it.Meta))
	}
	it.Conn.Close()
	n.dropped++
}

func clipMeta(m []byte) string {
	if len(m) > 64 {
		m = m[:64]
	}
	return strconv.Quote(string(m))
}

// closeHandedOver closes HandedOver's channel: nothing more will come.
func (h *Handoff) closeHandedOver() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.connsDone {
		return
	}
	h.connsDone = true
	if h.conns != nil {
		close(h.conns)
	}
}

//go:build !windows

package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/proto"
)

// predecessor is the new generation's end of the handover channel: it
// dials the previous generation's socket (successor.go is the other end),
// receives its state blob (State) and then its live connections, and gives
// each to the listener (migrated HTTP connections) or the program
// (InheritedConns) that takes it.
type predecessor struct {
	log   *slog.Logger
	stop  <-chan struct{} // closed at Stop
	stats *tally          // takes the predecessor's counts (metrics_handover.go)

	path        string // the predecessor's handover socket
	pid         int    // ... and its pid (0: any of our uid)
	expectState bool   // the predecessor sends a state blob

	dialOnce sync.Once

	mu        sync.Mutex // guards the fields below
	recv      *handover.Receiver
	dialErr   error
	early     []handover.Item      // received by State before the state; for receive
	conns     chan Conn            // InheritedConns'; nil until asked
	connsDone bool                 // conns is (or will be made) closed
	migrating map[string]*listener // listeners that take migrated HTTP conns, by address

	quic *quicRoutes // QUIC listeners waiting for their links (quic_link.go)

	// lingerAtStop, when set (a takeover's newcomer: takeover_join.go),
	// says how long close keeps the channel open for the previous process
	// to finish on its own (0: close it at once); receive runs on until
	// released is closed. ended is closed when receive returns.
	lingerAtStop func() time.Duration
	hard         <-chan struct{} // a second stop signal: linger no more
	receiving    bool            // receive was started (guarded by mu)
	released     chan struct{}
	ended        chan struct{}
}

// readPredecessorEnv takes the predecessor's channel from the environment,
// or returns nil when it offered none.
func readPredecessorEnv(take func(string) string, fromParent bool, h *Handoff) (*predecessor, error) {
	path := take(proto.EnvHandover)
	pid := take(proto.EnvHandoverPID)
	state := take(proto.EnvState)
	if path == "" {
		return nil, nil
	}
	p := newPredecessor(h, path, state == "1")
	switch {
	case pid != "":
		n, err := strconv.Atoi(pid)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%w: %s=%q: not a pid", ErrProtocol, proto.EnvHandoverPID, pid)
		}
		p.pid = n
	case fromParent:
		p.pid = os.Getppid()
	}
	return p, nil
}

// newPredecessor is the end of the channel to the generation at path
// (introduced by the environment, or found by a takeover: takeover_join.go).
func newPredecessor(h *Handoff, path string, expectState bool) *predecessor {
	return &predecessor{log: h.log, stop: h.stopping(), stats: h.stats, path: path, expectState: expectState, quic: &h.quic,
		hard: h.hardStop(), released: make(chan struct{}), ended: make(chan struct{})}
}

// linger is how long Stop waits for the previous generation to end the
// channel itself, or 0.
func (p *predecessor) linger() time.Duration {
	if p.lingerAtStop == nil {
		return 0
	}
	return p.lingerAtStop()
}

// dial connects to the previous generation's socket, once.
func (p *predecessor) dial(ctx context.Context) (*handover.Receiver, error) {
	p.dialOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		r, err := handover.Dial(ctx, p.path, handover.Peer{PID: p.pid})
		p.mu.Lock()
		defer p.mu.Unlock()
		if err != nil {
			p.dialErr = fmt.Errorf("connect to the previous generation: %w", handoverError(err))
			return
		}
		p.recv = r
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recv, p.dialErr
}

// connect runs in Ready, before READY=1 is sent: the old generation drains
// once it learns of our readiness, and by then the channel must be up.
func (p *predecessor) connect() {
	r, err := p.dial(context.Background())
	if err != nil {
		p.log.Warn("handoff: handover: the previous generation's connections will drain instead", "err", err)
		p.closeConns()
		return
	}
	r.Admit(p.admit)
	p.mu.Lock()
	p.receiving = true
	p.mu.Unlock()
	go p.receive(r)
}

// admit tells the receiver, before it confirms a frame, whether this
// generation will serve the connection: never acknowledge one that would
// then be closed (the previous generation keeps it and serves it itself).
func (p *predecessor) admit(meta []byte) bool {
	if len(meta) == 0 {
		return false
	}
	switch meta[0] {
	case metaHTTP:
		p.mu.Lock()
		l := p.migrating[string(meta[1:])]
		p.mu.Unlock()
		return l != nil && l.takes()
	case metaUser:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.conns != nil && !p.connsDone
	case metaQUIC:
		return p.quic.admits(meta[1:])
	}
	return false
}

// close, at Stop, closes the channel to the previous generation:
// connections it had not passed yet stay its own.
func (p *predecessor) close() {
	p.mu.Lock()
	r, early, receiving := p.recv, p.early, p.receiving
	p.early = nil
	p.mu.Unlock()
	for _, it := range early {
		if it.Conn != nil {
			it.Conn.Close()
		}
	}
	if r != nil {
		if d := p.linger(); d > 0 && receiving {
			// receive runs on until the previous process finishes, or
			// for d at the most.
			t := time.NewTimer(d)
			select {
			case <-p.ended:
			case <-t.C:
			case <-p.hard:
			}
			t.Stop()
		}
		close(p.released)
		r.Close()
	}
	p.closeConns()
}

// takeHTTP registers l to receive the HTTP connections the previous
// generation passes for its address.
func (p *predecessor) takeHTTP(l *listener) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.migrating == nil {
		p.migrating = make(map[string]*listener)
	}
	p.migrating[l.Addr().String()] = l
}

// receive takes what the previous generation passes until it finishes or
// this generation stops, and gives each connection to whoever takes it.
func (p *predecessor) receive(r *handover.Receiver) {
	defer close(p.ended)
	defer p.closeConns()
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			// A lingering stop leaves the channel to the previous
			// process to end, until close releases it (it bounds the
			// wait).
			if p.linger() > 0 {
				select {
				case <-p.released:
				case <-ctx.Done():
				}
			}
			cancel()
		case <-ctx.Done():
		}
	}()
	p.mu.Lock()
	early := p.early
	p.early = nil
	p.mu.Unlock()
	var n receiveCounts
	var first time.Time
	for _, it := range early {
		p.route(ctx, it, &n)
	}
	for {
		it, err := r.Next(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				p.log.Warn("handoff: handover: receive", "err", err, "received", n.http+n.user)
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
		p.route(ctx, it, &n)
	}
	if n.http+n.user+n.dropped > 0 {
		p.log.Info("handoff: handover: connections received", "http", n.http, "own", n.user, "dropped", n.dropped,
			"took", time.Since(first).Round(time.Millisecond))
	}
}

type receiveCounts struct{ http, user, dropped int }

// route gives a received connection to the listener or the program that
// takes it, or closes it when nobody does.
func (p *predecessor) route(ctx context.Context, it handover.Item, n *receiveCounts) {
	if it.Counters != nil {
		p.inherit(it.Counters) // metrics_handover.go
		return
	}
	if it.Conn == nil {
		return
	}
	if len(it.Meta) > 0 {
		switch it.Meta[0] {
		case metaHTTP:
			p.mu.Lock()
			l := p.migrating[string(it.Meta[1:])]
			p.mu.Unlock()
			// The HTTP side passes only connections with nothing buffered.
			if l != nil && len(it.Buffered) == 0 && l.inject(it.Conn) {
				n.http++
				return
			}
		case metaUser:
			p.mu.Lock()
			ch := p.conns
			p.mu.Unlock()
			if ch != nil {
				c := Conn{Raw: it.Conn, Buffered: it.Buffered, Meta: bytes.Clone(it.Meta[1:])}
				select {
				case ch <- c:
					n.user++
					return
				case <-ctx.Done():
				}
			}
		case metaQUIC:
			if p.quic.take(it.Conn, it.Buffered, it.Meta[1:]) {
				return
			}
		}
	}
	if n.dropped == 0 {
		p.log.Warn("handoff: handover: a connection nobody takes was closed (call InheritedConns before Ready; Serve every listener before Ready)",
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

// inheritedConns is Handoff.InheritedConns.
func (p *predecessor) inheritedConns() <-chan Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		p.conns = make(chan Conn, 64)
		if p.connsDone {
			close(p.conns)
		}
	}
	return p.conns
}

// closeConns closes InheritedConns' channel: nothing more will come.
func (p *predecessor) closeConns() {
	p.quic.channelEnded() // nor any QUIC link
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.connsDone {
		return
	}
	p.connsDone = true
	if p.conns != nil {
		close(p.conns)
	}
}

// state receives the state blob, the first thing on the channel.
func (p *predecessor) state(ctx context.Context) (*State, error) {
	r, err := p.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoState, err)
	}
	for {
		it, err := r.Next(ctx)
		switch {
		case errors.Is(err, handover.ErrStateCancelled):
			return nil, fmt.Errorf("%w: the previous generation could not produce it: %w", ErrNoState, err)
		case errors.Is(err, io.EOF):
			return nil, ErrNoState
		case err != nil:
			return nil, fmt.Errorf("handoff: state: %w", handoverError(err))
		case it.State != nil:
			return &State{Version: it.State.Version, s: stateStream{it.State}}, nil
		}
		// A connection before the state (not what this library sends):
		// keep it for the receiving loop.
		p.mu.Lock()
		p.early = append(p.early, it)
		p.mu.Unlock()
	}
}

// stateStream is a State's blob as internal/handover streams it, with
// its errors mapped to this package's.
type stateStream struct{ s *handover.State }

func (s stateStream) Read(b []byte) (int, error) {
	n, err := s.s.Read(b)
	if err == io.EOF {
		return n, err
	}
	if err != nil {
		err = fmt.Errorf("handoff: state: read: %w", handoverError(err))
	}
	return n, err
}

func (s stateStream) Accept() error {
	if err := s.s.Accept(); err != nil {
		return fmt.Errorf("handoff: state: accept: %w", handoverError(err))
	}
	return nil
}

func (s stateStream) Refuse(reason string) error {
	if err := s.s.Refuse(reason); err != nil {
		return fmt.Errorf("handoff: state: refuse: %w", handoverError(err))
	}
	return nil
}

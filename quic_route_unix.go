//go:build !windows

package handoff

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/handoff-go/handoff/internal/quicroute"
)

// quicRoute is one QUIC listener's routing (internal/quicroute): the
// routing conn its quic.Transport reads, the key its connection IDs are
// made with, and its half of the cutover. The old generation's half is in
// quic_link.go (handOver); the new one's (receive) too.
type quicRoute struct {
	h    *Handoff
	conn *quicroute.Conn
	addr string // the socket's local address: how the generations match listeners
	gen  uint32

	// settled is closed once the key and the routes are known (this
	// generation's own, its predecessor's links, or none will come), or
	// the listener was released; handedOver once this generation's drain
	// has passed the socket on, or decided to keep it (quic_link.go).
	settled    chan struct{}
	handedOver chan struct{}
	passed     atomic.Bool // the successor took the socket

	mu     sync.Mutex // guards the fields below
	key    quicroute.Key
	hasKey bool
	got    int  // link records received for this listener
	done   bool // started (or released): nothing more is received
	idle   bool // settled without ever reading the socket (stepBack)
}

// quicRoutes are a Handoff's routed QUIC listeners, for the predecessor's
// channel to find the one a link frame is for.
type quicRoutes struct {
	mu     sync.Mutex
	routes []*quicRoute
	ended  bool // the predecessor's channel ended: nothing will arrive
	idle   bool // stepBack: no listener of this process reads its socket
}

// routeQUIC makes the routing conn for udp, this generation's copy of a
// QUIC listener's socket, or returns nil for a process alone (plain
// quic-go). A socket inherited from a predecessor that has a handover
// channel starts in standby: the predecessor reads it until it drains,
// then sends the key and its links (quic_link.go). Otherwise this
// generation is the only reader, from now, with a fresh key.
func (h *Handoff) routeQUIC(udp *net.UDPConn, inherited bool) (*quicRoute, error) {
	c, ok := h.links.(*chain)
	if !ok {
		return nil, nil
	}
	r := &quicRoute{h: h, addr: udp.LocalAddr().String(), gen: uint32(c.gen),
		settled: make(chan struct{}), handedOver: make(chan struct{})}
	standby := inherited && c.pred != nil
	cfg := quicroute.Config{Generation: r.gen, Active: !standby}
	if !standby {
		key, codec, err := freshKey()
		if err != nil {
			return nil, err
		}
		r.key, r.hasKey, r.done = key, true, true
		cfg.Codec = codec
		close(r.settled)
	}
	conn, err := quicroute.New(udp, cfg)
	if err != nil {
		return nil, err
	}
	r.conn = conn
	if ended := h.quic.add(r); ended && standby {
		// The channel is already gone: nobody will send links.
		r.start("the previous generation's channel ended before this listener")
	}
	h.log.Debug("handoff: quic: routing", "addr", r.addr, "generation", r.gen, "standby", standby)
	return r, nil
}

func freshKey() (quicroute.Key, *quicroute.Codec, error) {
	key, err := quicroute.NewKey()
	if err != nil {
		return key, nil, err
	}
	codec, err := quicroute.NewCodec(key)
	return key, codec, err
}

// add registers r and reports whether the predecessor's channel has
// already ended.
func (s *quicRoutes) add(r *quicRoute) (ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes = append(s.routes, r)
	return s.ended
}

// find returns the listener whose socket has address addr.
func (s *quicRoutes) find(addr string) *quicRoute {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.routes {
		if r.addr == addr {
			return r
		}
	}
	return nil
}

// channelEnded runs when the predecessor's channel ends (it finished, died,
// or never connected): a listener still waiting for its links will get
// none, and reads the socket with a key of its own. Its predecessor's
// connections, if it had any, are not routed.
func (s *quicRoutes) channelEnded() {
	s.mu.Lock()
	s.ended = true
	routes := append([]*quicRoute(nil), s.routes...)
	s.mu.Unlock()
	for _, r := range routes {
		r.start("the previous generation's channel ended without links for this listener")
	}
}

// stepBack runs when this process, a takeover's newcomer, steps back
// because the serving process gave up on it (takeover_join.go): the
// serving process still reads the socket, so every listener settles
// without reading it (a listener whose channel ended would otherwise read
// it with a key of its own and drop the serving process's datagrams), and
// its drain has nothing to hand over.
func (s *quicRoutes) stepBack() {
	s.mu.Lock()
	s.ended, s.idle = true, true
	routes := append([]*quicRoute(nil), s.routes...)
	s.mu.Unlock()
	for _, r := range routes {
		r.settleIdle()
	}
}

func (s *quicRoutes) isIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

// settleIdle settles r without reading the socket (stepBack).
func (r *quicRoute) settleIdle() {
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return
	}
	r.done, r.idle = true, true
	r.mu.Unlock()
	close(r.settled)
}

func (r *quicRoute) isIdle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idle
}

// inheritedClaims counts the inherited descriptors claimed so far, so that
// ListenQUIC can tell whether its socket was inherited.
func (h *Handoff) inheritedClaims() int {
	c, ok := h.links.(*chain)
	if !ok {
		return 0
	}
	c.inh.mu.Lock()
	defer c.inh.mu.Unlock()
	n := 0
	for _, f := range c.inh.fds {
		if f.claimed {
			n++
		}
	}
	return n
}

// release ends r's routing, with the listener: the conn itself is closed
// by the listener's Release.
func (r *quicRoute) release() {
	r.mu.Lock()
	wasDone := r.done
	r.done = true
	r.mu.Unlock()
	if !wasDone {
		close(r.settled)
	}
	st := r.conn.Stats()
	r.h.log.Info("handoff: quic: routing ended", "addr", r.addr, "generation", r.gen,
		"delivered", st.Delivered, "forwarded", st.Forwarded, "from_link", st.FromLink,
		"dropped_foreign", st.DroppedForeign, "dropped_no_route", st.DroppedNoRoute, "dropped_link_full", st.DroppedLinkFull)
}

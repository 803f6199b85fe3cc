package handoff

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// A QUICListener accepts the QUIC connections of one UDP socket for this
// generation: what http3.Server.ServeListener takes. Make one with
// ListenQUIC; ServeHTTP3 serves it and drains it.
//
// Its Close stops accepting (handshakes in flight are refused, as
// quic.EarlyListener's Close does) and leaves the connections already
// accepted running: the drain needs them. Release ends them and the
// socket.
type QUICListener struct {
	h     *Handoff
	ln    *quic.EarlyListener
	tr    *quic.Transport
	conn  net.PacketConn // the Transport's: the routing conn, or the socket itself
	route *quicRoute     // nil when not routed (quic_route*.go)
	hs    handshakes     // in flight, for Close (quic_handshakes.go)

	releaseOnce sync.Once
}

// ListenQUIC returns a QUIC listener on the UDP address addr, passed on to
// every generation like any socket from ListenPacket (the name is
// ListenPacket's, "udp|..."; under the supervisor, --listen udp://addr),
// whose connections survive upgrades (issue 14; docs/HTTP3.md):
//
//   - Every server connection ID it issues names this generation
//     (internal/quicroute: AES-encrypted, 16 bytes), with a key all
//     generations share: the first makes it, each hands it to its successor
//     over the handover channel, never in the environment, never logged.
//   - Exactly one generation reads the socket: the newest, from cutover on.
//     A new generation waits without reading until its predecessor drains
//     (the end of probation), then takes the socket; the old one stops
//     reading it and gets its own connections' datagrams, forwarded by
//     the newest over a unix datagram link it passed along with the key.
//     Datagrams whose connection ID names no live generation are dropped
//     before quic-go sees them, so no generation sends a stateless reset
//     for a connection it does not own. Every generation writes its
//     replies on its own copy of the socket.
//   - New connections go to the newest generation from cutover on; the
//     old one finishes its connections (ServeHTTP3: HTTP/3 GOAWAY, then
//     the requests in flight, bounded by Options.DrainTimeout).
//
// tlsConf and quicConf are as quic.ListenEarly takes them (for HTTP/3,
// http3.ConfigureTLSConfig(tlsConf)). Call ListenQUIC before Ready (before
// ServeHTTP3): Ready connects the handover channel on which the key and
// the links arrive.
//
// Routing needs unix datagram sockets and the handover channel: on Linux,
// darwin and freebsd, in a self-upgrading program and under the
// supervisor (with one worker: two workers of one generation reading one
// socket would steal each other's datagrams). On Windows, and with
// Options.NoQUICRouting, ListenQUIC serves plain quic-go on the socket:
// after an upgrade both generations read it and the old generation's
// connections lose datagrams (the failure this exists to prevent).
//
// A successor waits for its predecessor's links until the predecessor's
// handover channel ends: a predecessor that does not route addr (a build
// without ListenQUIC that served QUIC on ListenPacket, or
// Options.NoQUICRouting) leaves it not reading the socket until that
// predecessor stops, after its drain. Deploy the first routing build, or
// turn routing on or off, with a restart rather than an upgrade, or accept
// that gap. Errors are ListenPacket's, or quic-go's.
func (h *Handoff) ListenQUIC(addr string, tlsConf *tls.Config, quicConf *quic.Config) (*QUICListener, error) {
	inheritedBefore := h.inheritedClaims()
	pc, err := h.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	udp, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("handoff: listen quic %s: %w: %T is not a UDP socket", addr, ErrNotSupported, pc)
	}
	inherited := h.inheritedClaims() > inheritedBefore
	l := &QUICListener{h: h, conn: udp}
	tr := &quic.Transport{Conn: udp}
	if !h.opts.NoQUICRouting {
		route, err := h.routeQUIC(udp, inherited)
		if err != nil {
			udp.Close()
			return nil, fmt.Errorf("handoff: listen quic %s: %w", addr, err)
		}
		if route != nil {
			l.route, l.conn = route, route.conn
			tr = &quic.Transport{Conn: route.conn, ConnectionIDGenerator: route.conn.Generator()}
		}
	}
	tr.ConnContext = l.hs.connContext
	ln, err := tr.ListenEarly(tlsConf, quicConf)
	if err != nil {
		tr.Close()
		l.conn.Close()
		return nil, fmt.Errorf("handoff: listen quic %s: %w", addr, err)
	}
	l.ln, l.tr = ln, tr
	if l.route != nil {
		l.route.watch()
	}
	return l, nil
}

// Accept returns the next QUIC connection, as quic.EarlyListener's Accept
// does.
func (l *QUICListener) Accept(ctx context.Context) (*quic.Conn, error) {
	c, err := l.ln.Accept(ctx)
	if err == nil {
		l.hs.accepted(c)
	}
	return c, err
}

// Addr returns the UDP socket's address.
func (l *QUICListener) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting connections: handshakes in flight are refused,
// connections already accepted keep running (see Release). The socket
// stays open, and so does this generation's routing. Once this generation
// drains, Close first waits (a few seconds at most) until the routing has
// passed the socket to the successor (until then new connections still
// reach this generation, and must be accepted), then until the handshakes
// already begun have reached Accept (closing refuses them:
// CONNECTION_REFUSED), bounded by the handshake timeout.
func (l *QUICListener) Close() error {
	if l.route != nil && l.route.awaitHandOver() {
		l.hs.wait(handshakeWait)
	}
	return l.ln.Close()
}

// handshakeWait bounds Close's wait for handshakes in flight: quic-go's
// default HandshakeIdleTimeout.
const handshakeWait = 5 * time.Second

// Release ends every connection of this generation (quic-go sends
// CONNECTION_CLOSE) and closes its copy of the socket and its forwarding
// link: call it once the drain is over (ServeHTTP3 does). Calling it again
// does nothing.
func (l *QUICListener) Release() error {
	var err error
	l.releaseOnce.Do(func() {
		l.Close()
		err = l.tr.Close()
		if l.route != nil {
			l.route.release()
		}
		if cerr := l.conn.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	})
	return err
}

// ServeHTTP3 serves srv on ln, declares this generation ready (Ready), and
// returns once the generation has drained, as Serve does for HTTP/1 and
// HTTP/2:
//
//   - At Draining (a successor took over, SIGTERM, Drain, or ctx done)
//     ln stops accepting (http3.Server.Shutdown does not close a listener
//     given to ServeListener), and srv.Shutdown sends HTTP/3 GOAWAY on
//     every connection and waits for the requests in flight; clients open
//     their next connection to the new generation, which reads the socket
//     from the cutover.
//   - At Options.DrainTimeout, or at a second stop signal, srv.Close ends
//     what is left.
//   - Then ln.Release closes this generation's connections, its copy of
//     the socket and its forwarding link.
//
// It returns nil after a drain; an error from ServeListener before the
// drain is returned, wrapped.
func (h *Handoff) ServeHTTP3(ctx context.Context, srv *http3.Server, ln *QUICListener) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeListener(ln) }()
	if err := h.Ready(); err != nil {
		h.log.Warn("handoff: ready", "err", err)
	}
	select {
	case <-h.Draining():
	case <-ctx.Done():
		h.Drain()
	case err := <-serveErr:
		if p, _ := h.Phase(); p != PhaseDraining && p != PhaseStopped {
			ln.Release()
			return fmt.Errorf("handoff: serve http3 %s: %w", ln.Addr(), err)
		}
		serveErr <- err
	}
	ln.Close()
	start := time.Now()
	dctx, cancel := h.drainContext(start.Add(h.opts.DrainTimeout))
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil {
		h.log.Info("handoff: http3 drain cut short: closing what is left", "after", time.Since(start).Round(time.Millisecond), "err", err)
		srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
		h.log.Warn("handoff: serve http3 ended", "err", err)
	}
	if err := ln.Release(); err != nil {
		h.log.Warn("handoff: http3: release", "err", err)
	}
	h.log.Info("handoff: http3 drained", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

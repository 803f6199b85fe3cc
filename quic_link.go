//go:build !windows

package handoff

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/quicroute"
)

// The cutover of a routed QUIC listener, over the handover channel
// (docs/PROTOCOL.md section 6, tag 'q'). When the old generation drains for a
// successor, it stops reading the shared socket (quicroute.Conn.Stop) and
// passes, in one conns frame, its own forwarding link and the link of
// every older generation it routes to (quicroute.Conn.Links), each as a
// descriptor with the meta
//
//	'q' "quicroute/1 gen=<generation> addr=<socket address> n=<links in the set>"
//
// and, on the first record (its own link), the 16-byte key as the
// record's buffered bytes. The new generation, waiting in standby, admits
// the frame only for a listener it has on that address, adds the routes,
// takes the key and starts reading the socket. If nothing was passed, the
// old generation reads the socket again (Resume).

// quicMeta is the version word of a link record's meta.
const quicMeta = "quicroute/1"

// metaQUIC tags a forwarding link of a QUIC listener on the handover
// channel (links.go has the other tags).
const metaQUIC = 'q'

// quicHandoverTimeout bounds the cutover: waiting for this generation's own
// links (back-to-back upgrades) and for the successor's acknowledgement.
const quicHandoverTimeout = 5 * time.Second

// watch starts r's half of the cutover for when this generation drains.
func (r *quicRoute) watch() { go r.handOver() }

// awaitHandOver waits, once this generation drains, until handOver is
// over: the listener must accept new connections for as long as this
// generation reads the socket, or quic-go would refuse the handshakes
// that reach it meanwhile (CONNECTION_REFUSED), and the socket must not
// be closed before it was passed on. It reports whether the socket went
// to a successor.
func (r *quicRoute) awaitHandOver() (passed bool) {
	select {
	case <-r.h.Draining():
	default:
		return false
	}
	t := time.NewTimer(2 * quicHandoverTimeout) // handOver's own bound, with room
	defer t.Stop()
	select {
	case <-r.handedOver:
		return r.passed.Load()
	case <-t.C:
		return false
	}
}

// handOver waits for the drain, then passes the socket to the successor,
// if one took over: a generation draining without one (SIGTERM, no
// upgrade) keeps reading the socket for its own connections.
func (r *quicRoute) handOver() {
	defer close(r.handedOver)
	select {
	case <-r.h.Draining():
	case <-r.h.stopping():
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), quicHandoverTimeout)
	defer cancel()
	// Back to back (A→B→C): B may drain before A's links reached it; it
	// must pass them on, and the key, so it waits for them.
	select {
	case <-r.settled:
	case <-ctx.Done():
		r.h.log.Warn("handoff: quic: never got the socket from the previous generation; nothing to pass on", "addr", r.addr)
		return
	}
	if r.isIdle() {
		return // stepped back (stepBack): never read the socket, nothing to pass on
	}
	var p passer
	if r.h.links != nil {
		p = r.h.links.successor(ctx)
	}
	if p == nil {
		// Draining alone: this generation reads the socket to the end (a
		// standby conn, whose links came after the drain began, starts).
		if err := r.conn.Start(); err != nil {
			r.h.log.Warn("handoff: quic: read the socket", "addr", r.addr, "err", err)
		}
		return
	}
	if err := r.conn.Stop(ctx); err != nil {
		r.h.log.Warn("handoff: quic: stop reading the socket", "addr", r.addr, "err", err)
	}
	links, err := r.conn.Links()
	if err != nil {
		r.resume(err)
		return
	}
	r.mu.Lock()
	key := r.key
	r.mu.Unlock()
	out := make([]outgoing, len(links))
	for i, l := range links {
		meta := fmt.Appendf([]byte{metaQUIC}, "%s gen=%d addr=%s n=%d", quicMeta, l.Generation, r.addr, len(links))
		out[i] = outgoing{sock: l.File, meta: meta}
		if i == 0 {
			out[i].buffered = key[:]
		}
	}
	n, err := p.pass(ctx, out)
	for _, l := range links[n:] {
		l.File.Close()
	}
	if n == 0 {
		r.resume(err)
		return
	}
	r.passed.Store(true)
	r.h.log.Info("handoff: quic: socket handed to the new generation", "addr", r.addr, "generation", r.gen, "links", n)
}

// resume takes the socket back after a cutover that passed nothing: the
// successor never started reading it (it admitted no link), so this
// generation's connections keep their datagrams. The successor reads it
// too once its channel ends: routing is lost for it, not the connections.
func (r *quicRoute) resume(cause error) {
	if err := r.conn.Resume(); err != nil {
		r.h.log.Warn("handoff: quic: resume reading the socket", "addr", r.addr, "err", err)
		return
	}
	r.h.log.Warn("handoff: quic: links not handed over; this generation keeps reading the socket", "addr", r.addr, "err", cause)
}

// linkRecord is a parsed link meta (without its tag).
type linkRecord struct {
	gen  uint32
	addr string
	n    int
}

func parseLinkMeta(meta []byte) (linkRecord, bool) {
	f := strings.Fields(string(meta))
	if len(f) != 4 || f[0] != quicMeta {
		return linkRecord{}, false
	}
	var rec linkRecord
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "gen":
			g, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return linkRecord{}, false
			}
			rec.gen = uint32(g)
		case "addr":
			rec.addr = v
		case "n":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return linkRecord{}, false
			}
			rec.n = n
		}
	}
	return rec, rec.addr != "" && rec.n > 0
}

// admits tells the predecessor's receiver whether a link record (meta
// after its tag) has a listener here waiting for it.
func (s *quicRoutes) admits(meta []byte) bool {
	r, _ := s.forMeta(meta)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.done
}

// take gives a received link record to its listener; the listener starts
// reading the socket once the whole set is in. It reports false when no
// listener takes it (the caller closes c).
func (s *quicRoutes) take(c net.Conn, buffered, meta []byte) bool {
	r, rec := s.forMeta(meta)
	return r != nil && r.receive(rec, c, buffered)
}

// forMeta returns the listener a link record is for, or nil.
func (s *quicRoutes) forMeta(meta []byte) (*quicRoute, linkRecord) {
	rec, ok := parseLinkMeta(meta)
	if !ok {
		return nil, rec
	}
	return s.find(rec.addr), rec
}

func (r *quicRoute) receive(rec linkRecord, c net.Conn, buffered []byte) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return false
	}
	if len(buffered) == quicroute.KeyLen {
		copy(r.key[:], buffered)
		r.hasKey = true
	}
	r.got++
	complete := r.got >= rec.n
	r.mu.Unlock()
	// AddRouteConn dups through Control: the link stays non-blocking, so
	// the newest generation's reader never waits on an old one.
	if err := r.conn.AddRouteConn(rec.gen, uc); err != nil {
		r.h.log.Warn("handoff: quic: route refused", "addr", r.addr, "generation", rec.gen, "err", err)
	}
	if complete {
		r.start("")
	}
	return true
}

// start makes r read the socket, with the routes received so far. why,
// when set, says why it starts without (all) its links.
func (r *quicRoute) start(why string) {
	if r.h.quic.isIdle() {
		r.settleIdle() // stepped back: the socket is the serving process's
		return
	}
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return
	}
	r.done = true
	key, hasKey, got := r.key, r.hasKey, r.got
	r.mu.Unlock()
	defer close(r.settled)

	var codec *quicroute.Codec
	var err error
	if hasKey {
		codec, err = quicroute.NewCodec(key)
	} else {
		key, codec, err = freshKey()
		r.mu.Lock()
		r.key, r.hasKey = key, err == nil
		r.mu.Unlock()
	}
	if err == nil {
		err = r.conn.SetCodec(codec)
	}
	select {
	case <-r.h.Draining():
		// Back to back: this generation drains already. Reading the socket
		// now would take new connections its closed listener refuses;
		// handOver passes the socket on, or starts it if nobody takes it.
		if err == nil {
			r.h.log.Info("handoff: quic: got the socket while draining: passing it on", "addr", r.addr, "generation", r.gen, "links", got)
			return
		}
	default:
		if err == nil {
			err = r.conn.Start()
		}
	}
	if err != nil {
		r.h.log.Warn("handoff: quic: start reading the socket", "addr", r.addr, "err", err)
		return
	}
	if why != "" {
		r.h.log.Info("handoff: quic: reading the socket", "addr", r.addr, "generation", r.gen, "links", got, "reason", why)
		return
	}
	r.h.log.Info("handoff: quic: reading the socket", "addr", r.addr, "generation", r.gen, "links", got)
}

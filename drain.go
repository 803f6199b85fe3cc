package handoff

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// drainer tracks an http.Server's connections so the drain can close each
// one at the moment that loses nothing (see Serve).
type drainer struct {
	h   *Handoff
	srv *http.Server

	closing atomic.Bool // answer HTTP/1 requests with Connection: close
	migrate atomic.Bool // connections are migConns that may move to the successor (migrate.go)
	sender  passer      // the successor's channel, while migrating
	// Owned by drain: what moved, what fell back to the drain, and what
	// was cut at its deadline, for the log and the metrics.
	migrated, fellBack, cut int

	mu       sync.Mutex
	conns    map[net.Conn]*connInfo
	hijacked int
	outbox   []*migConn    // taken connections net/http let go of, to send
	broken   bool          // migration stopped: taken connections are given back, not sent
	back     *backlog      // connections served again after the listener closed (giveback.go)
	changed  chan struct{} // a connection changed state (capacity 1)
}

type connInfo struct {
	state http.ConnState
	since time.Time // when it became idle (or was accepted)
	h2    bool
}

type connKey struct{}
type handoffKey struct{}

func newDrainer(h *Handoff, srv *http.Server) *drainer {
	d := &drainer{h: h, srv: srv, conns: make(map[net.Conn]*connInfo), changed: make(chan struct{}, 1)}
	d.back = newBacklog(d)

	userState := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		d.track(c, s)
		if userState != nil {
			userState(c, s)
		}
	}
	userConnCtx := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if userConnCtx != nil {
			ctx = userConnCtx(ctx, c)
		}
		return context.WithValue(ctx, connKey{}, c)
	}
	userBase := srv.BaseContext
	srv.BaseContext = func(ln net.Listener) context.Context {
		ctx := context.Background()
		if userBase != nil {
			ctx = userBase(ln)
		}
		return context.WithValue(ctx, handoffKey{}, h)
	}
	next := srv.Handler
	if next == nil {
		next = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor >= 2 {
			d.markH2(r)
		} else if d.closing.Load() && !d.migratable(r) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
	return d
}

// DrainingFrom returns the Draining channel of the Handoff serving the
// request whose context is ctx, or nil (which blocks forever) outside Serve.
// Handlers that hijack a connection (WebSockets, long polls) select on it to
// learn that they must wrap up: net/http's own drain does not see them.
func DrainingFrom(ctx context.Context) <-chan struct{} {
	if h, ok := ctx.Value(handoffKey{}).(*Handoff); ok {
		return h.Draining()
	}
	return nil
}

func (d *drainer) setClosing(on bool) { d.closing.Store(on) }

func (d *drainer) track(c net.Conn, s http.ConnState) {
	d.mu.Lock()
	switch s {
	case http.StateNew, http.StateIdle:
		if s == http.StateNew {
			d.back.settledLocked(c)
		}
		if mc, ok := c.(*migConn); ok && s == http.StateIdle {
			mc.idle()
		}
		ci := d.conns[c]
		if ci == nil {
			ci = &connInfo{}
			d.conns[c] = ci
		}
		ci.state, ci.since = s, time.Now()
		if s == http.StateIdle && !ci.h2 {
			ci.h2 = isHTTP2(c)
		}
	case http.StateActive:
		ci := d.conns[c]
		if ci != nil {
			ci.state = s
		} else {
			ci = &connInfo{state: s, since: time.Now()}
			d.conns[c] = ci
		}
		if !ci.h2 {
			ci.h2 = isHTTP2(c)
		}
	case http.StateHijacked:
		delete(d.conns, c)
		d.hijacked++
	case http.StateClosed:
		delete(d.conns, c)
	}
	d.mu.Unlock()
	d.poke()
}

// poke wakes the drain loop.
func (d *drainer) poke() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

func (d *drainer) markH2(r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if c == nil {
		return
	}
	d.mu.Lock()
	if ci := d.conns[c]; ci != nil {
		ci.h2 = true
	}
	d.mu.Unlock()
}

// drain runs after the listener stopped accepting. It returns when every
// connection is gone or the deadline passed.
func (d *drainer) drain() error {
	h := d.h
	start := time.Now()
	deadline := time.NewTimer(h.opts.DrainTimeout)
	defer deadline.Stop()
	quiet := h.opts.DrainIdle
	wake := time.NewTimer(quiet)
	defer wake.Stop()
	defer d.count() // metrics_drain.go

	if d.migrate.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		if h.links != nil {
			d.sender = h.links.successor(ctx)
		}
		cancel()
		if d.sender == nil {
			// Nobody to pass them to: the drain below, with
			// Connection: close, is all there is.
			d.migrate.Store(false)
		}
	}
	for {
		pending := 0
		if d.sender != nil && !d.sender.alive() {
			// The successor's channel died (the successor exited, or
			// stopped taking connections): nothing more is sent into it.
			// Under the supervisor a rollback worker may have connected
			// since: the one it introduced last, with a live channel.
			if next := d.liveSuccessor(); next != nil {
				d.sender = next
			} else {
				d.stopMigrating("the successor's channel is gone")
			}
		}
		if d.sender != nil {
			pending = d.migrateIdle()
		}
		http1, next := d.closeQuiet(start, quiet)
		if http1 == 0 && pending == 0 && d.outboxLen() == 0 && d.finish() {
			break
		}
		if pending > 0 || d.outboxLen() > 0 {
			// Idle connections whose read has not begun yet: look again soon.
			next = min(next, 5*time.Millisecond)
		}
		wake.Reset(next)
		select {
		case <-d.changed:
		case <-wake.C:
		case <-deadline.C:
			h.log.Warn("handoff: drain timeout, closing what is left", "connections", http1)
			d.cut = d.open()
			d.logMigration(start)
			d.abandonBacklog()
			return d.srv.Close()
		case <-h.hardStop():
			h.log.Warn("handoff: second stop signal, closing what is left", "connections", http1)
			d.cut = d.open()
			d.logMigration(start)
			d.abandonBacklog()
			return d.srv.Close()
		}
	}
	d.logMigration(start)
	// Only HTTP/2 connections (or none) remain: Shutdown sends GOAWAY and
	// waits for their streams.
	ctx, cancel := h.drainContext(start.Add(h.opts.DrainTimeout))
	defer cancel()
	if err := d.srv.Shutdown(ctx); err != nil {
		h.log.Warn("handoff: drain timeout, closing what is left", "err", err)
		d.cut = d.open()
		return d.srv.Close()
	}
	h.log.Info("handoff: drained", "took", time.Since(start).Round(time.Millisecond), "hijacked", d.hijackedCount())
	return nil
}

// drainContext ends at deadline or at a second stop signal (hardStop),
// whichever comes first: what a server's Shutdown waits under at the end of
// a drain (HTTP/2 here, HTTP/3 in quic.go).
func (h *Handoff) drainContext(deadline time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	go func() {
		select {
		case <-h.hardStop():
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// liveSuccessor returns the successor's channel if one lives now, or nil.
func (d *drainer) liveSuccessor() passer {
	if d.h.links == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if p := d.h.links.successor(ctx); p != nil && p.alive() {
		return p
	}
	return nil
}

// finish ends the give-back path if no connection is on its way through it
// or was taken and not yet handed on, and reports whether it did: then the
// drain may end.
func (d *drainer) finish() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.outbox) > 0 || len(d.conns) > 0 && d.http1Locked() {
		return false
	}
	return d.back.finalLocked()
}

// http1Locked reports a tracked HTTP/1 connection; d.mu held.
func (d *drainer) http1Locked() bool {
	for _, ci := range d.conns {
		if !ci.h2 {
			return true
		}
	}
	return false
}

// closeQuiet closes HTTP/1 keep-alive connections that stayed idle for
// quiet since the drain began or since their last request, and returns how many HTTP/1
// connections remain and when the next one may become closable.
func (d *drainer) closeQuiet(start time.Time, quiet time.Duration) (int, time.Duration) {
	now := time.Now()
	next := quiet
	remaining := 0
	var toClose []net.Conn
	d.mu.Lock()
	for c, ci := range d.conns {
		if ci.h2 {
			continue
		}
		if ci.state == http.StateActive || ci.state == http.StateNew {
			// A new connection has a request coming (clients connect to
			// send one): closing it would fail that request, on a loaded
			// machine even a client that writes right after connect. It
			// waits for its request (answered with Connection: close),
			// net/http's own ReadHeaderTimeout, or the drain deadline.
			remaining++
			continue
		}
		since := ci.since
		if since.Before(start) {
			since = start
		}
		if wait := since.Add(quiet).Sub(now); wait > 0 {
			remaining++
			next = min(next, wait)
			continue
		}
		toClose = append(toClose, c)
		delete(d.conns, c)
	}
	d.mu.Unlock()
	for _, c := range toClose {
		if mc, ok := c.(*migConn); ok && d.sender != nil && !mc.isTaken() {
			d.fellBack++ // it never offered a clean moment to move
		}
		c.Close() // a taken connection moves on Close
	}
	return remaining, max(next, time.Millisecond)
}

func (d *drainer) hijackedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hijacked
}

package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// ListenAndServe runs srv for the whole life of this generation: it creates
// a Handoff with opts, listens on srv.Addr (":http" if empty) through it,
// serves, declares readiness, and when the generation drains (a successor
// took over, SIGTERM, or ctx is done) it drains srv (see Serve) and returns.
// SIGHUP or SIGUSR2 upgrade the program. It returns nil after a clean drain.
func ListenAndServe(ctx context.Context, srv *http.Server, opts Options) error {
	h, err := New(opts)
	if err != nil {
		return err
	}
	defer h.Stop()
	addr := srv.Addr
	if addr == "" {
		addr = ":http"
	}
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return h.Serve(ctx, srv, ln)
}

// Serve serves srv on ln, declares this generation ready (Ready), and
// returns once the generation has drained. Call Listen for every socket the
// program needs before the first Serve: Ready closes inherited sockets that
// nobody claimed. With several servers, run one Serve per server.
//
// The drain never loses a request the server has accepted:
//
//   - When a successor becomes ready, ln stops accepting (new connections
//     go to the successor) and every HTTP/1 response carries
//     "Connection: close", so keep-alive clients reconnect to the successor
//     after their current request. If the successor dies in probation this is
//     undone.
//   - When the generation drains (Draining), idle keep-alive connections are
//     left open for Options.DrainIdle in case a request is already on its
//     way (closing them at once would race with it, and that request would
//     fail); a request that comes is answered, with "Connection: close".
//     Connections that stay quiet are closed. A new connection that has
//     not sent its first request yet is not closed: a request is coming
//     on it. It waits for that request, for srv.ReadHeaderTimeout (set it),
//     or for the drain deadline.
//   - Unless Options.NoMigrate (and with ln from Listen), HTTP/1 connections
//     on this generation are not told "Connection: close" during probation
//     or the drain: when the drain begins, each one that net/http waits on
//     with nothing read (idle between requests, or new and waiting for its
//     first) is passed to the successor, which serves its next request on
//     the same TCP connection; one in the middle of a request moves once
//     it is idle. What cannot move (TLS, bytes pipelined into net/http's
//     buffer, no successor taking them) is drained as above. A connection
//     taken to move that then cannot (the successor refused it, ran out of
//     descriptors, or its channel died) is served here again from its
//     first byte, and migration stops for the rest of the drain; likewise
//     a connection the previous generation passes after this one began to
//     drain (upgrades back to back) is served here or passed on. None is
//     closed unanswered.
//   - Once no HTTP/1 connection is left, srv.Shutdown sends HTTP/2 GOAWAY
//     and waits for open streams. net/http sends one GOAWAY, not the two
//     steps RFC 9113 section 6.8 recommends: a request a client writes
//     while it is on the wire is refused as not processed (safe to resend;
//     Go's transport does so itself when it can replay the body, a client
//     with a one-shot body sees an error). See docs/BENCHMARKS.md. (Calling Shutdown earlier would make
//     net/http close keep-alive connections without answering requests it
//     reads on them.)
//   - Hijacked connections (WebSockets) are not tracked by net/http: they
//     learn about the drain from DrainingFrom(r.Context()) and must close
//     themselves.
//   - At Options.DrainTimeout, or at a second stop signal, whatever is left
//     is closed (srv.Close).
//
// Serve sets srv.ConnState, srv.ConnContext and srv.BaseContext, wrapping
// any the caller set, and wraps srv.Handler. It returns nil after a drain,
// ctx.Err()-free: a done ctx simply starts the drain.
func (h *Handoff) Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	d := newDrainer(h, srv)
	if l, ok := ln.(*listener); ok {
		if h.links != nil {
			h.links.takeHTTP(l)
		}
		// Wrapped even without migration: the wrapper also tells h2c
		// connections from HTTP/1 ones before their first request.
		l.setWrap(d.wrapConn(l.Addr().String()))
		l.setBack(d)
		d.migrate.Store(!h.opts.NoMigrate)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if err := h.Ready(); err != nil {
		h.log.Warn("handoff: ready", "err", err)
	}

	for {
		phase, changed := h.Phase()
		d.setClosing(phase == PhaseProbation || phase == PhaseDraining || phase == PhaseStopped)
		if phase == PhaseDraining || phase == PhaseStopped {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			h.Drain()
		case err := <-serveErr:
			if p, _ := h.Phase(); p == PhaseDraining || p == PhaseStopped {
				serveErr <- err // let the drain below see it again
				continue
			}
			return fmt.Errorf("handoff: serve %s: %w", ln.Addr(), err)
		}
	}
	ln.Close()
	err := d.drain()
	if serr := <-serveErr; serr != nil && !errors.Is(serr, net.ErrClosed) && !errors.Is(serr, http.ErrServerClosed) {
		h.log.Warn("handoff: serve ended", "err", serr)
	}
	return err
}

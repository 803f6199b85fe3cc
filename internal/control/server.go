package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// Handler is what the supervisor provides to the control server.
type Handler interface {
	// Upgrade starts an upgrade, or joins the one already running, and
	// returns its events. The channel is closed after the final event. The
	// upgrade goes on when ctx is cancelled (the client went away); only
	// the delivery stops.
	Upgrade(ctx context.Context) <-chan Event
	// Status describes the supervisor.
	Status() Status
	// Stop starts a graceful stop and says so; it does not wait for it.
	Stop() Event
}

type ctxKey struct{}

type peer struct {
	uid int
	err error
}

// Serve answers control requests on ln until ln is closed, and returns nil
// then, within DefaultLimits (see ServeLimits).
func Serve(ln *net.UnixListener, h Handler) error { return ServeLimits(ln, h, DefaultLimits) }

// ServeLimits answers control requests on ln until ln is closed, and
// returns nil then. Only peers with the same uid as this process, or root,
// are served; the others get 403 with the reason, and their connection is
// closed. A peer whose credentials cannot be read is refused the same way.
// Connections beyond lim.MaxConns get 503; see Limits for the timeouts.
func ServeLimits(ln *net.UnixListener, h Handler, lim Limits) error {
	srv := &http.Server{
		Handler:           handler(h, lim.WriteTimeout),
		ReadHeaderTimeout: lim.HeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey{}, credentials(c))
		},
	}
	err := srv.Serve(&capListener{UnixListener: ln, max: lim.MaxConns})
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return fmt.Errorf("control: serve: %w", err)
}

func credentials(c net.Conn) peer {
	if cc, ok := c.(*cappedConn); ok {
		c = cc.UnixConn
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{uid: -1, err: fmt.Errorf("not a unix socket")}
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return peer{uid: -1, err: err}
	}
	p := peer{uid: -1}
	if err := rc.Control(func(fd uintptr) { p.uid, p.err = peerUID(int(fd)) }); err != nil {
		return peer{uid: -1, err: err}
	}
	return p
}

// writeDeadline bounds the next write to w by d (none when d is 0).
func writeDeadline(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
	}
}

func handler(h Handler, writeTimeout time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, h.Status())
	})
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, h.Stop())
	})
	mux.HandleFunc("POST /upgrade", func(w http.ResponseWriter, r *http.Request) {
		streamEvents(w, h.Upgrade(r.Context()), writeTimeout)
	})
	handleOps(mux, h, writeTimeout)
	handleSelf(mux, h, writeTimeout) // self.go
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderVersion, Version)
		writeDeadline(w, writeTimeout)
		p, _ := r.Context().Value(ctxKey{}).(peer)
		if p.err != nil || (p.uid != os.Getuid() && p.uid != 0) {
			w.Header().Set("Connection", "close")
			reason := fmt.Sprintf("uid %d may not control a supervisor run by uid %d", p.uid, os.Getuid())
			if p.err != nil {
				reason = "cannot read peer credentials: " + p.err.Error()
			}
			http.Error(w, "handoff: control: refused: "+reason, http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// streamEvents writes events as JSON lines, flushing each.
func streamEvents(w http.ResponseWriter, events <-chan Event, writeTimeout time.Duration) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	for ev := range events {
		writeDeadline(w, writeTimeout)
		if enc.Encode(ev) != nil {
			return // the client left; the upgrade goes on without it
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/handoff-go/handoff"
)

// server serves WebSocket sessions and keeps count of them, because
// net/http does not: handoff.Serve returns once the HTTP connections are
// drained, while hijacked ones may still be closing.
type server struct {
	log    *slog.Logger
	pid    string
	prefix []byte // "<pid> ", before every text answer

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool          // closeAll ran: no new session
	changed  chan struct{} // closed and replaced when a session ends

	// How sessions ended at the drain.
	replied  atomic.Int64 // the client answered the 1012 Close frame
	timedOut atomic.Int64 // it did not within closeWait
	vanished atomic.Int64 // the connection failed first
}

func newServer(log *slog.Logger) *server {
	pid := strconv.Itoa(os.Getpid())
	return &server{log: log, pid: pid, prefix: []byte(pid + " "),
		sessions: make(map[*session]struct{}), changed: make(chan struct{})}
}

// handleWS serves GET /ws: the opening handshake, then the session.
func (s *server) handleWS(w http.ResponseWriter, r *http.Request) {
	// The drain signal, for this hijacked connection net/http's drain
	// does not see. Taken from the request's context before the hijack.
	draining := handoff.DrainingFrom(r.Context())
	sess := newSession()
	// Counted before the hijack: Serve may return as soon as net/http
	// lets go of the connection.
	if !s.add(sess) {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.remove(sess)
	conn, br, err := upgrade(w, r, s.pid)
	if err != nil {
		s.log.Debug("websocket: handshake", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.mu.Lock()
	sess.conn = conn
	closed := s.closed
	s.mu.Unlock()
	if closed {
		conn.Close()
		return
	}
	s.run(sess, br, draining)
}

func (s *server) add(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *server) remove(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait waits until every session has ended, or ctx is done, and returns
// how many are left.
func (s *server) wait(ctx context.Context) int {
	for {
		s.mu.Lock()
		n, changed := len(s.sessions), s.changed
		s.mu.Unlock()
		if n == 0 {
			return 0
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return n
		}
	}
}

// closeAll closes the sessions that are left and refuses new ones.
func (s *server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for sess := range s.sessions {
		if sess.conn != nil {
			sess.conn.Close()
		}
	}
}

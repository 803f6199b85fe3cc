package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/handoff-go/handoff"
)

// server serves chat sessions and, at the drain, stops them at a line
// boundary to hand them over.
type server struct {
	log *slog.Logger
	pid string

	mu       sync.Mutex
	sessions map[*session]struct{}
	stopping bool
	stopped  chan handoff.Conn // sessions that stopped reading, to hand over
	wg       sync.WaitGroup
}

// A session is one client connection.
type session struct {
	conn  net.Conn
	pre   *bytes.Reader // bytes the previous generation had read, not yet read here
	br    *bufio.Reader // reads pre, then conn
	lines uint64        // lines answered on this connection, by every generation
}

func newServer(log *slog.Logger) *server {
	return &server{log: log, pid: strconv.Itoa(os.Getpid()), sessions: make(map[*session]struct{}),
		stopped: make(chan handoff.Conn, 1024)}
}

func (s *server) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed at the drain
		}
		s.serve(c, nil, nil)
	}
}

// serve starts a session: a new connection, or one handed over with the
// bytes the previous generation had read (buffered) and its counter (meta).
func (s *server) serve(c net.Conn, buffered, meta []byte) {
	// The previous generation's unread bytes come first.
	sess := &session{conn: c, pre: bytes.NewReader(buffered)}
	sess.br = bufio.NewReader(io.MultiReader(sess.pre, c))
	if len(meta) > 0 {
		n, err := strconv.ParseUint(string(meta), 10, 64)
		if err != nil {
			s.log.Warn("chat: bad session metadata; counting from 0", "meta", string(meta))
		}
		sess.lines = n
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		// Arrived after the drain began: hand it over untouched.
		s.stopped <- handoff.Conn{Raw: c, Buffered: buffered, Meta: meta}
		return
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(sess)
}

// run answers lines until the client leaves or the drain stops the session.
func (s *server) run(sess *session) {
	defer s.wg.Done()
	for {
		line, err := sess.br.ReadString('\n')
		if err == nil {
			sess.lines++
			reply := fmt.Sprintf("%s | n=%d pid=%s\n", line[:len(line)-1], sess.lines, s.pid)
			if _, err := io.WriteString(sess.conn, reply); err != nil {
				s.end(sess)
				return
			}
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && s.isStopping() {
			// Stopped by the drain between two reads: what was read of
			// the next line, what the reader holds and what it had not
			// yet read of the previous generation's bytes go along, in
			// that order.
			held, _ := sess.br.Peek(sess.br.Buffered())
			notYet, _ := io.ReadAll(sess.pre)
			buf := append(append([]byte(line), held...), notYet...)
			s.remove(sess)
			s.stopped <- handoff.Conn{Raw: sess.conn, Buffered: buf, Meta: []byte(strconv.FormatUint(sess.lines, 10))}
			return
		}
		s.end(sess)
		return
	}
}

func (s *server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *server) remove(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

func (s *server) end(sess *session) {
	s.remove(sess)
	sess.conn.Close()
}

// handOver stops every session at its next read (a read deadline in the
// past: the pending read returns at once, with no byte lost), and passes
// the connections to the new generation. If there is none (a plain stop),
// they are closed.
func (s *server) handOver(ctx context.Context, h *handoff.Handoff) {
	s.mu.Lock()
	s.stopping = true
	for sess := range s.sessions {
		sess.conn.SetReadDeadline(time.Unix(1, 0))
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()

	var batch []handoff.Conn
	flush := func() {
		if len(batch) == 0 {
			return
		}
		n, err := h.PassConns(ctx, batch...)
		if err != nil {
			s.log.Warn("chat: hand over; closing the rest", "moved", n, "of", len(batch), "err", err)
			for _, c := range batch[n:] {
				c.Raw.Close()
			}
		}
		batch = batch[:0]
	}
	for {
		select {
		case c := <-s.stopped:
			batch = append(batch, c)
			if len(batch) == 200 {
				flush()
			}
		case <-done:
			// Every session stopped; take what is left in the queue.
			for {
				select {
				case c := <-s.stopped:
					batch = append(batch, c)
				default:
					flush()
					return
				}
			}
		}
	}
}

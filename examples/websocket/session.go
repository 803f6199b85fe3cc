package main

import (
	"bufio"
	"errors"
	"net"
	"time"

	"github.com/handoff-go/handoff/wsclose"
)

const (
	// writeTimeout bounds every write: a client that stops reading does
	// not hold its handler, and the drain, forever.
	writeTimeout = 10 * time.Second
	// closeWait is how long the drain waits for a client to answer the
	// 1012 Close frame before it closes the connection anyway.
	closeWait = 2 * time.Second
)

// A session is one WebSocket connection: a reader goroutine that turns the
// client's frames into messages, and the handler's goroutine, the only one
// that writes (frames must not interleave), which answers them and, when
// this generation drains, closes the connection with status 1012.
type session struct {
	conn    net.Conn      // set once the handshake succeeded
	in      chan frame    // messages and control frames, in the order they came
	readErr error         // why in was closed; written before close(in)
	done    chan struct{} // closed when the writer stops: the reader stops sending
	exited  chan struct{} // closed when the reader returned
	buf     []byte        // the writer's frame buffer
}

func newSession() *session {
	return &session{in: make(chan frame), done: make(chan struct{}), exited: make(chan struct{})}
}

// readLoop reads frames until an error (the connection closed, or a
// protocol error) and hands messages and control frames to the writer.
func (sess *session) readLoop(br *bufio.Reader) {
	defer close(sess.exited)
	var a assembler
	for {
		f, err := readFrame(br, maxMessage)
		var ok bool
		if err == nil {
			f, ok, err = a.add(f)
		}
		if err != nil {
			sess.readErr = err
			close(sess.in)
			return
		}
		if !ok {
			continue // a fragment
		}
		select {
		case sess.in <- f:
		case <-sess.done:
			return
		}
	}
}

// write sends one frame whose payload is the concatenation of parts.
func (sess *session) write(op byte, parts ...[]byte) error {
	sess.buf = appendFrame(sess.buf[:0], op, parts...)
	sess.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := sess.conn.Write(sess.buf)
	return err
}

// run is the writer loop: it answers the client's messages until the
// client leaves or this generation drains.
func (s *server) run(sess *session, br *bufio.Reader, draining <-chan struct{}) {
	go sess.readLoop(br)
	defer func() {
		close(sess.done)
		sess.conn.Close()
		<-sess.exited
	}()
	for {
		select {
		case f, ok := <-sess.in:
			if !ok {
				s.readFailed(sess)
				return
			}
			if !s.answer(sess, f) {
				return
			}
		case <-draining:
			s.closeForRestart(sess)
			return
		}
	}
}

// answer answers a message or control frame, and reports whether the
// session goes on.
func (s *server) answer(sess *session, f frame) bool {
	var err error
	switch f.op {
	case opText:
		err = sess.write(opText, s.prefix, f.payload) // "<pid> <message>"
	case opBinary:
		err = sess.write(opBinary, f.payload)
	case opPing:
		err = sess.write(opPong, f.payload)
	case opPong:
	case opClose:
		// The client closes: echo its status (RFC 6455 section 5.5.1);
		// the server closes the TCP connection first (section 7.1.1).
		status, cerr := checkClose(f.payload)
		switch {
		case cerr != nil:
			var pe *protocolError
			errors.As(cerr, &pe)
			sess.write(opClose, closePayload(pe.status, pe.msg))
		case status == 0:
			sess.write(opClose)
		default:
			sess.write(opClose, closePayload(status, ""))
		}
		return false
	}
	if err != nil {
		s.log.Debug("websocket: write", "err", err)
		return false
	}
	return true
}

// readFailed ends a session whose reader stopped: a client that broke the
// protocol is told why; one that went away is just closed.
func (s *server) readFailed(sess *session) {
	var pe *protocolError
	if errors.As(sess.readErr, &pe) {
		sess.write(opClose, closePayload(pe.status, pe.msg))
	}
	s.log.Debug("websocket: read", "err", sess.readErr)
}

// closeForRestart ends a session at the drain (RFC 6455 section 7): a
// Close frame with status 1012, Service Restart, so the client reconnects
// at once, to the generation that took over; no data after it; then the
// client's Close frame, for at most closeWait; then the connection closes.
// Messages that arrive meanwhile go unanswered: the client sends them
// again to the new generation.
func (s *server) closeForRestart(sess *session) {
	sess.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := wsclose.Restart(sess.conn, "server restarting"); err != nil {
		s.log.Debug("websocket: close", "err", err)
		s.vanished.Add(1)
		return
	}
	timeout := time.NewTimer(closeWait)
	defer timeout.Stop()
	for {
		select {
		case f, ok := <-sess.in:
			if !ok {
				s.vanished.Add(1) // gone without a Close frame
				return
			}
			if f.op == opClose {
				s.replied.Add(1)
				return
			}
		case <-timeout.C:
			s.timedOut.Add(1)
			return
		}
	}
}

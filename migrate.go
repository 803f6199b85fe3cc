package handoff

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Keep-alive migration (on unless Options.NoMigrate): the old generation
// passes idle HTTP/1.1 connections to its successor over the handover
// channel (successor.go) instead of closing them. This file holds the
// connection wrapper that lets the drain take a connection without
// consuming a byte of it, and the drain's side that sends them; the new
// generation feeds them to its listener (predecessor.go's route).

// longAgo is a deadline in the past: it makes a blocked Read return a
// timeout at once, with no data.
var longAgo = time.Unix(1, 0)

// migConn wraps a raw TCP connection served by net/http, to tell when
// net/http is waiting for the next request with nothing read: the only
// moment a connection can move without losing bytes.
//
// net/http waits for the next request with bufio.Reader.Peek on a buffer
// of fixed size. With that buffer empty, the Read it calls us with spans the
// whole buffer (the largest Read the connection ever saw); a shorter one
// means bytes are buffered (a pipelined request, a byte read in the
// background during the previous request), and such a connection is not
// taken. fresh says that nothing was read since the connection went idle.
//
// Taking it sets a read deadline in the past: the pending Read returns a
// timeout with no data, net/http closes the connection without writing,
// and Close, instead of closing the socket, hands it to the successor. If
// data wins the race the Read returns it, the takeover is cancelled and the
// request is served here.
type migConn struct {
	*net.TCPConn // ReadFrom, WriteTo and SyscallConn pass through: sendfile still works
	ln           string
	handover     func(*migConn) // called by Close instead of closing when taken

	mu       sync.Mutex
	started  bool // a Read returned data: the protocol is known
	h2       bool // the client opened with the HTTP/2 preface (h2c)
	full     int  // the largest Read buffer seen: net/http's bufio size
	reading  bool // a Read is in progress...
	clean    bool // ...on net/http's empty buffer
	fresh    bool // nothing read since the connection went idle
	taken    bool // the drain took it; Close hands it over
	closed   bool
	deadline time.Time // the read deadline net/http wants
}

func (c *migConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.full = max(c.full, len(p))
	c.reading, c.clean = true, len(p) == c.full
	c.mu.Unlock()
	n, err := c.TCPConn.Read(p)
	c.mu.Lock()
	c.reading = false
	if n > 0 {
		c.fresh = false
		if !c.started {
			// No HTTP/1 method is "PRI": this is h2c with prior knowledge.
			c.started, c.h2 = true, bytes.HasPrefix(p[:n], []byte("PRI "))
		}
	}
	if c.taken && (n > 0 || !isTimeout(err)) {
		// The client's bytes (or its FIN) beat the takeover: serve them
		// here, under the deadline net/http had set.
		c.taken = false
		c.TCPConn.SetReadDeadline(c.deadline)
	}
	c.mu.Unlock()
	return n, err
}

func (c *migConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if c.taken {
		return nil
	}
	return c.TCPConn.SetReadDeadline(t)
}

func (c *migConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.TCPConn.SetWriteDeadline(t)
}

// idle is called when net/http marks the connection idle, before it waits
// for the next request.
func (c *migConn) idle() {
	c.mu.Lock()
	c.fresh = true
	c.mu.Unlock()
}

// take marks the connection for handover if net/http is waiting on it with
// nothing read, and interrupts that wait.
func (c *migConn) take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reading || !c.clean || !c.fresh || c.taken || c.closed {
		return false
	}
	c.taken = true
	c.TCPConn.SetReadDeadline(longAgo)
	return true
}

// Close closes the socket, or, for a taken connection, passes it on: this
// process then only drops its descriptor (never shutdown(2)), so the client
// sees nothing.
func (c *migConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	taken := c.taken
	c.mu.Unlock()
	if taken {
		c.handover(c)
		return nil
	}
	return c.TCPConn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ---- old generation: the drain's side ----

// wrapConn makes the raw TCP connections l accepts migratable; anything
// else (a TLS listener's connections, unix sockets) is left alone and
// drains.
func (d *drainer) wrapConn(ln string) func(net.Conn) net.Conn {
	return func(c net.Conn) net.Conn {
		tc, ok := c.(*net.TCPConn)
		if !ok {
			return c
		}
		// fresh: net/http has read nothing yet, so a new connection
		// waiting for its first request can move as well.
		return &migConn{TCPConn: tc, ln: ln, handover: d.handOver, fresh: true}
	}
}

// migratable reports whether the connection r came on will move to the
// successor rather than be closed: such a connection is not told
// "Connection: close".
func (d *drainer) migratable(r *http.Request) bool {
	if !d.migrate.Load() {
		return false
	}
	_, ok := r.Context().Value(connKey{}).(*migConn)
	return ok
}

// handOver is migConn.Close for a taken connection: net/http let go of it.
// Once migration has stopped it is given back at once: it was taken with
// nothing read, so serving it here from the start loses nothing.
func (d *drainer) handOver(c *migConn) {
	d.mu.Lock()
	broken := d.broken
	if !broken {
		d.outbox = append(d.outbox, c)
	}
	d.mu.Unlock()
	if broken {
		d.giveBack([]*migConn{c})
		return
	}
	d.poke()
}

// giveBack serves taken connections here again (giveback.go); only past
// the drain's end, when nothing serves any more, are they closed.
func (d *drainer) giveBack(out []*migConn) {
	for _, c := range out {
		if !d.adopt(c.TCPConn, c.ln) {
			c.TCPConn.Close()
		}
	}
}

// stopMigrating ends migration for the rest of the drain: nothing more is
// taken, the connections taken and not sent are given back, and every
// HTTP/1 response from now on says "Connection: close".
func (d *drainer) stopMigrating(why string) {
	d.h.log.Info("handoff: migrate: stopped; the rest drain here", "reason", why)
	d.sender = nil
	d.migrate.Store(false)
	d.mu.Lock()
	d.broken = true
	out := d.outbox
	d.outbox = nil
	d.mu.Unlock()
	d.fellBack += len(out)
	d.giveBack(out)
}

func (d *drainer) outboxLen() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.outbox)
}

// migrateIdle takes every idle (or new) connection net/http is waiting on
// with nothing read, sends those net/http has let go of, and returns how many
// idle connections could not be taken yet.
func (d *drainer) migrateIdle() int {
	pending := 0
	d.mu.Lock()
	for c, ci := range d.conns {
		mc, ok := c.(*migConn)
		if !ok || ci.h2 || (ci.state != http.StateIdle && ci.state != http.StateNew) {
			continue
		}
		if !mc.take() && !mc.isTaken() {
			pending++
		}
	}
	out := d.outbox
	d.outbox = nil
	d.mu.Unlock()
	if len(out) > 0 {
		d.send(out)
	}
	return pending
}

func (c *migConn) isTaken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.taken
}

// send passes connections to the successor. What it cannot pass is given
// back (served here), and migration stops: a channel that failed once is
// not trusted with more. Only what the handover package could not tell
// apart (sent, unconfirmed: ErrUnconfirmed) is closed, by it, never two
// owners.
func (d *drainer) send(out []*migConn) {
	conns := make([]outgoing, len(out))
	for i, c := range out {
		conns[i] = outgoing{sock: c.TCPConn, meta: append([]byte{metaHTTP}, c.ln...)}
	}
	// Each batch of 253 is acknowledged: allow for thousands on a loaded
	// machine (an unconfirmed batch is closed here: never two owners).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second+time.Duration(len(conns))*time.Millisecond)
	defer cancel()
	n, err := d.sender.pass(ctx, conns)
	d.migrated += n
	if err == nil {
		return
	}
	d.h.log.Warn("handoff: migrate: send connections; the rest are served here", "err", err, "given_back", len(out)-n)
	d.fellBack += len(out) - n
	d.giveBack(out[n:])
	d.stopMigrating("sending failed")
}

func (d *drainer) logMigration(start time.Time) {
	if d.migrated == 0 && d.fellBack == 0 {
		return
	}
	d.h.log.Info("handoff: migrate: keep-alive connections", "migrated", d.migrated, "fell_back", d.fellBack,
		"took", time.Since(start).Round(time.Millisecond))
}

// isHTTP2 tells an HTTP/2 connection from its first bytes (h2c) or its
// TLS handshake (ALPN "h2"), before any request ran on it: such a
// connection is never closed as an idle HTTP/1 one, it gets GOAWAY.
func isHTTP2(c net.Conn) bool {
	switch c := c.(type) {
	case *migConn:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.h2
	case *tls.Conn:
		return c.ConnectionState().NegotiatedProtocol == "h2"
	}
	return false
}

package handoff

import "net"

// The give-back path: connections that come back to a draining server
// after its listener stopped accepting, served by the same http.Server
// until its drain ends, instead of being closed unanswered.
//
// Two kinds come back:
//   - its own idle connections it took for migration (migrate.go) but could
//     not send: the successor refused them, its channel died, or sending
//     failed part-way (EMFILE on a dup). net/http had let go of them with
//     nothing read, so serving them again from the start loses nothing;
//   - connections its predecessor passes after this generation itself began
//     to drain (a chain A→B→C: B drains for C while A still migrates to B).
//
// Either kind is served like any other (answered with "Connection: close",
// or migrated again while a healthy successor channel lives). Once the
// drain is final (no HTTP/1 connection is left and Shutdown is next), the
// path is closed: adopt refuses, and the receiver refuses the frame before
// confirming it, so the connection stays with whoever still serves it.

// backlog is the give-back queue, a net.Listener that srv.Serve runs on.
// Its state is guarded by the drainer's mu.
type backlog struct {
	d       *drainer
	queue   []net.Conn
	pending map[net.Conn]struct{} // adopted or accepted (expect), not yet seen by ConnState as new
	serving bool                  // srv.Serve runs on the backlog
	final   bool                  // the drain is over: adopt refuses
	wake    chan struct{}         // capacity 1
	done    chan struct{}         // closed with final
	addr    net.Addr
}

func newBacklog(d *drainer) *backlog {
	return &backlog{d: d, pending: map[net.Conn]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{}),
		addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
}

// adopt queues c to be served here, and reports false (the caller keeps c)
// once the drain is final. wrap makes it migratable again, as Accept does.
func (d *drainer) adopt(c net.Conn, ln string) bool {
	if _, ok := c.(*net.TCPConn); ok {
		c = d.wrapConn(ln)(c)
	}
	d.mu.Lock()
	b := d.back
	if b.final {
		d.mu.Unlock()
		return false
	}
	b.queue = append(b.queue, c)
	b.pending[c] = struct{}{}
	start := !b.serving
	b.serving = true
	d.mu.Unlock()
	if start {
		go d.srv.Serve(b)
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
	d.poke()
	return true
}

// expect notes a connection the listener just accepted: the drain does not
// end before net/http tracks it (ConnState new), or a connection accepted
// as the drain began would be closed unanswered when the process exits.
func (d *drainer) expect(c net.Conn) {
	d.mu.Lock()
	if !d.back.final {
		d.back.pending[c] = struct{}{}
	}
	d.mu.Unlock()
}

// accepting reports whether adopt would take a connection now.
func (d *drainer) accepting() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.back.final
}

// settledLocked notes that net/http took c (ConnState new); d.mu held.
func (b *backlog) settledLocked(c net.Conn) { delete(b.pending, c) }

// finalLocked closes the path if nothing is on its way through it, and
// reports whether it did; d.mu held.
func (b *backlog) finalLocked() bool {
	if len(b.pending) > 0 {
		return false
	}
	if !b.final {
		b.final = true
		close(b.done)
	}
	return true
}

// abandonBacklog closes the path at the drain deadline: what was not served yet
// is closed (the drain is out of time).
func (d *drainer) abandonBacklog() {
	d.mu.Lock()
	b := d.back
	q := b.queue
	b.queue = nil
	for _, c := range q {
		delete(b.pending, c)
	}
	if !b.final {
		b.final = true
		close(b.done)
	}
	d.mu.Unlock()
	for _, c := range q {
		c.Close()
	}
}

// Accept returns the next adopted connection, or net.ErrClosed once the
// drain is final.
func (b *backlog) Accept() (net.Conn, error) {
	for {
		b.d.mu.Lock()
		if len(b.queue) > 0 {
			c := b.queue[0]
			b.queue = b.queue[1:]
			b.d.mu.Unlock()
			return c, nil
		}
		final := b.final
		b.d.mu.Unlock()
		if final {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: b.addr, Err: net.ErrClosed}
		}
		select {
		case <-b.wake:
		case <-b.done:
		}
	}
}

// Close is called by srv.Shutdown and srv.Close: the drain is over.
func (b *backlog) Close() error {
	b.d.mu.Lock()
	defer b.d.mu.Unlock()
	if !b.final {
		b.final = true
		close(b.done)
	}
	return nil
}

func (b *backlog) Addr() net.Addr { return b.addr }

//go:build linux || darwin || freebsd

package quicroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Conn is the routing net.PacketConn one generation gives its
// quic.Transport in place of the shared UDP socket. It implements
// quic.OOBCapablePacketConn and the batch reading quic-go looks for, so
// quic-go keeps recvmmsg, GSO, ECN and packet info exactly as on a bare
// *net.UDPConn: Conn only filters the batches it reads.
//
// A Conn is in one of three states:
//
//   - standby (New with Active false): it reads nothing; quic-go's reader
//     waits. A new generation is in standby until cutover.
//   - active (New with Active true, or after Start): it reads the shared
//     socket and sorts each datagram by its destination CID: this
//     generation's, or a new connection's (long header, DCID not ours), or
//     not QUIC, go to quic-go; an older generation's are written to that
//     generation's link (AddRoute); the rest are dropped before quic-go
//     sees them, so this generation never answers a CID it does not own
//     with a stateless reset.
//   - draining (after Stop): it no longer reads the shared socket and reads
//     the datagrams its successor forwards on its link instead.
//
// In every state writes go straight to this generation's copy of the
// shared socket. Exactly one generation should be active at a time:
// cutover is old.Stop, then new.Start.
//
// Conn takes ownership of the *net.UDPConn given to New. Close closes it,
// the link and every route; the quic.Transport using the Conn should be
// closed first.
type Conn struct {
	udp   *net.UDPConn
	batch *ipv4.PacketConn
	codec atomic.Pointer[Codec] // nil until SetCodec for a standby Conn made without one
	gen   uint32

	inbox    *net.UnixConn // receiving end of this generation's link
	inboxRaw syscall.RawConn
	outbox   *os.File // its sending end, dup'd for successors by Links

	routes atomic.Pointer[map[uint32]*route] // copy on write, under mu

	mu       sync.Mutex
	st       state
	changed  chan struct{} // closed and replaced on every change of st or deadline
	deadline time.Time     // the read deadline quic-go asked for
	onSocket bool          // the reader is inside a read of the shared socket
	off      chan struct{} // closed once the reader has left the socket after Stop

	n counters

	// Used only by the single reader (quic-go reads from one goroutine;
	// ReadFrom and ReadMsgUDP take readMu to share them safely).
	readMu sync.Mutex
	frame  []byte
	rbuf   []byte
	block  [CIDLen]byte
	one    []ipv4.Message
}

type state int

const (
	standby state = iota
	active
	draining
	closed
)

// Config configures a Conn.
type Config struct {
	// Codec reads and makes connection IDs; every generation of one server
	// must use a Codec with the same Key. Required for an Active Conn; a
	// standby Conn may get it later, before Start, with SetCodec (a new
	// generation learns the Key only at cutover, with its links).
	Codec *Codec
	// Generation is this generation's number, the tag in its CIDs. Give
	// the quic.Transport Codec.Generator(Generation).
	Generation uint32
	// Active makes the Conn read the shared socket from the start (the
	// first generation). Otherwise it waits in standby for Start.
	Active bool
}

// New returns a routing Conn over udp, this generation's copy of the
// shared UDP socket, with a fresh forwarding link of its own. On error udp
// is not closed.
func New(udp *net.UDPConn, cfg Config) (*Conn, error) {
	if cfg.Codec == nil && cfg.Active {
		return nil, errors.New("quicroute: new conn: Config.Codec is nil for an active conn")
	}
	inbox, outbox, err := newLink()
	if err != nil {
		return nil, err
	}
	c := &Conn{
		udp:     udp,
		batch:   ipv4.NewPacketConn(udp),
		gen:     cfg.Generation,
		inbox:   inbox,
		outbox:  outbox,
		changed: make(chan struct{}),
		off:     make(chan struct{}),
		rbuf:    make([]byte, MaxFrame),
		one:     []ipv4.Message{{Buffers: [][]byte{nil}, OOB: make([]byte, MaxControl)}},
	}
	if raw, err := inbox.SyscallConn(); err == nil {
		c.inboxRaw = raw
	}
	c.codec.Store(cfg.Codec)
	if cfg.Active {
		c.st = active
	}
	empty := map[uint32]*route{}
	c.routes.Store(&empty)
	return c, nil
}

// Generation returns the generation this Conn serves.
func (c *Conn) Generation() uint32 { return c.gen }

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats { return c.n.snapshot() }

// signal wakes a reader waiting in standby. Call with mu held.
func (c *Conn) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Start makes a standby Conn read the shared socket: the new generation's
// half of cutover, after the old generation's Stop returned. Starting an
// active Conn does nothing; a draining or closed one cannot be started.
func (c *Conn) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.st {
	case standby:
		if c.codec.Load() == nil {
			return fmt.Errorf("quicroute: start generation %d: no codec (SetCodec)", c.gen)
		}
		c.st = active
		c.signal()
		return nil
	case active:
		return nil
	case closed:
		return fmt.Errorf("quicroute: start generation %d: %w", c.gen, ErrClosed)
	default:
		return fmt.Errorf("quicroute: start generation %d: draining", c.gen)
	}
}

// SetCodec sets the Codec of a Conn made in standby without one (see
// Config.Codec). It refuses a Conn that already has one or is not in
// standby: the codec of a Conn that reads never changes.
func (c *Conn) SetCodec(codec *Codec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if codec == nil || c.st != standby || !c.codec.CompareAndSwap(nil, codec) {
		return fmt.Errorf("quicroute: set codec of generation %d: already set, or not in standby", c.gen)
	}
	return nil
}

// Generator returns the quic.ConnectionIDGenerator of this Conn's
// generation with its Codec, as Codec.Generator does, for a Conn whose
// Codec comes later (SetCodec): until then GenerateConnectionID fails. A
// standby Conn delivers nothing to quic-go, so no server connection asks
// for an ID before Start.
func (c *Conn) Generator() quic.ConnectionIDGenerator { return connGenerator{c} }

type connGenerator struct{ c *Conn }

func (g connGenerator) GenerateConnectionID() (quic.ConnectionID, error) {
	codec := g.c.codec.Load()
	if codec == nil {
		return quic.ConnectionID{}, fmt.Errorf("quicroute: generation %d: connection id before the key arrived", g.c.gen)
	}
	return codec.Make(g.c.gen)
}

func (g connGenerator) ConnectionIDLen() int { return CIDLen }

// Stop is the old generation's half of cutover: the Conn stops reading
// the shared socket and from then on reads only the datagrams forwarded on
// its link. It returns once no read of the shared socket by this Conn is
// in progress, so that the successor's Start that follows is the only
// reader; datagrams arriving in between wait in the socket's buffer. If
// ctx ends first, Stop returns its error, the Conn is draining all the
// same, and its reader leaves the socket as soon as its current read
// returns. Stop on a draining Conn waits the same way; on a standby Conn
// it only switches to draining.
func (c *Conn) Stop(ctx context.Context) error {
	c.mu.Lock()
	switch c.st {
	case closed:
		c.mu.Unlock()
		return fmt.Errorf("quicroute: stop generation %d: %w", c.gen, ErrClosed)
	case standby, active:
		c.st = draining
		// Wake a read blocked in recvmmsg; Go checks the deadline before
		// each attempt, so no later read of the socket can succeed.
		_ = c.udp.SetReadDeadline(time.Unix(1, 0))
		_ = c.inbox.SetReadDeadline(c.deadline) // undo a Resume's wake-up
		if !c.onSocket {
			close(c.off)
		}
		c.signal()
	}
	off := c.off
	c.mu.Unlock()
	select {
	case <-off:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("quicroute: stop generation %d: %w", c.gen, ctx.Err())
	}
}

// Resume undoes Stop when the successor failed before its Start: the
// Conn reads the shared socket again (datagrams that arrived meanwhile
// are in its buffer) and stops reading its link. It refuses a Conn that is
// not draining. Call it only once the successor is known not to read the
// socket (it exited, or reported that it never started).
func (c *Conn) Resume() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st != draining {
		return fmt.Errorf("quicroute: resume generation %d: not stopped", c.gen)
	}
	c.st = active
	c.off = make(chan struct{})
	if err := c.udp.SetReadDeadline(c.deadline); err != nil {
		return fmt.Errorf("quicroute: resume generation %d: %w", c.gen, err)
	}
	_ = c.inbox.SetReadDeadline(time.Unix(1, 0)) // wake the reader off the link
	c.signal()
	return nil
}

// AddRoute makes datagrams for generation gen go to link, the sending end
// of that generation's link (from its Links). The Conn owns link from then
// on, also on error. A second route for the same generation replaces the
// first.
func (c *Conn) AddRoute(gen uint32, link *os.File) error {
	if gen == c.gen {
		link.Close()
		return fmt.Errorf("quicroute: add route: generation %d is this conn's own", gen)
	}
	r, err := newRoute(gen, link)
	if err != nil {
		link.Close()
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == closed {
		r.close()
		return fmt.Errorf("quicroute: add route for generation %d: %w", gen, ErrClosed)
	}
	c.replaceRoute(gen, r)
	return nil
}

// AddRouteConn is AddRoute for a link that arrived as a *net.UnixConn
// (internal/handover's Receiver hands descriptors out as net.Conn). It
// takes ownership of link, also on error.
func (c *Conn) AddRouteConn(gen uint32, link *net.UnixConn) error {
	f, err := dupFile(link, "quicroute-link")
	link.Close()
	if err != nil {
		return fmt.Errorf("quicroute: add route for generation %d: %w", gen, err)
	}
	return c.AddRoute(gen, f)
}

// RemoveRoute drops the route to generation gen (it has exited): its
// datagrams are dropped from then on. Removing an unknown route does
// nothing. Routes are also removed by themselves when the old
// generation's end of the link is closed.
func (c *Conn) RemoveRoute(gen uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.replaceRoute(gen, nil)
}

// replaceRoute sets or (r nil) deletes a route. Call with mu held.
func (c *Conn) replaceRoute(gen uint32, r *route) {
	old := *c.routes.Load()
	next := make(map[uint32]*route, len(old)+1)
	for g, or := range old {
		next[g] = or
	}
	if prev := next[gen]; prev != nil {
		prev.close()
	}
	if r == nil {
		delete(next, gen)
	} else {
		next[gen] = r
	}
	c.routes.Store(&next)
}

// dropRoute removes r after its generation went away, unless it was
// replaced meanwhile.
func (c *Conn) dropRoute(r *route) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (*c.routes.Load())[r.gen] == r {
		c.replaceRoute(r.gen, nil)
	}
}

// Links returns what a successor needs to route for every live older
// generation: this generation's own link and a duplicate of every route
// it holds (direct links, see the package documentation). The caller owns
// the files and closes them after handing them over.
func (c *Conn) Links() ([]Link, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == closed {
		return nil, fmt.Errorf("quicroute: links of generation %d: %w", c.gen, ErrClosed)
	}
	var out []Link
	fail := func(err error) ([]Link, error) {
		for _, l := range out {
			l.File.Close()
		}
		return nil, fmt.Errorf("quicroute: links of generation %d: %w", c.gen, err)
	}
	f, err := dupFile(c.outbox, "quicroute-link")
	if err != nil {
		return fail(err)
	}
	out = append(out, Link{Generation: c.gen, File: f})
	for g, r := range *c.routes.Load() {
		f, err := dupFile(r.file, "quicroute-link")
		if err != nil {
			return fail(err)
		}
		out = append(out, Link{Generation: g, File: f})
	}
	return out, nil
}

// Close closes the shared socket's copy, the link and every route. A read
// in progress returns net.ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.st == closed {
		c.mu.Unlock()
		return nil
	}
	c.st = closed
	c.signal()
	for g := range *c.routes.Load() {
		c.replaceRoute(g, nil)
	}
	c.mu.Unlock()
	err := c.udp.Close()
	c.inbox.Close()
	c.outbox.Close()
	return err
}

// ReadBatch reads datagrams meant for this generation into ms, as
// ipv4.PacketConn.ReadBatch does; quic-go calls it in place of recvmmsg.
// It blocks while the Conn is in standby and returns a timeout error
// (os.ErrDeadlineExceeded) at the read deadline, and net.ErrClosed after
// Close, as a socket would.
func (c *Conn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	for {
		c.mu.Lock()
		st, dl, changed := c.st, c.deadline, c.changed
		if st == active {
			c.onSocket = true
		}
		c.mu.Unlock()

		switch st {
		case closed:
			return 0, net.ErrClosed
		case standby:
			if err := c.wait(changed, dl); err != nil {
				return 0, err
			}
		case active:
			n, err := c.batch.ReadBatch(ms, flags)
			c.mu.Lock()
			c.onSocket = false
			moved := c.st != active
			if c.st == draining {
				select {
				case <-c.off:
				default:
					close(c.off)
				}
			}
			c.mu.Unlock()
			if err != nil {
				if moved && errors.Is(err, os.ErrDeadlineExceeded) {
					continue // our own wake-up from Stop
				}
				return 0, err
			}
			if k := c.sort(ms[:n]); k > 0 {
				return k, nil
			}
		case draining:
			ok, err := c.readLink(&ms[0])
			if err != nil {
				c.mu.Lock()
				moved := c.st != draining
				c.mu.Unlock()
				if moved && errors.Is(err, os.ErrDeadlineExceeded) {
					continue // Resume's wake-up
				}
				return 0, err
			}
			if ok {
				return 1 + c.moreFromLink(ms[1:]), nil
			}
		}
	}
}

// wait blocks in standby until the state or deadline changes or the
// deadline passes.
func (c *Conn) wait(changed <-chan struct{}, dl time.Time) error {
	if dl.IsZero() {
		<-changed
		return nil
	}
	d := time.Until(dl)
	if d <= 0 {
		return os.ErrDeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-changed:
		return nil
	case <-t.C:
		return os.ErrDeadlineExceeded
	}
}

// sort delivers, forwards or drops each datagram of a batch read from
// the shared socket, compacting the delivered ones to the front of ms.
// It returns how many were delivered.
func (c *Conn) sort(ms []ipv4.Message) int {
	routes := *c.routes.Load()
	codec := c.codec.Load() // set: Start requires it
	k := 0
	for i := range ms {
		m := &ms[i]
		if !c.deliver(m, codec, routes) {
			continue
		}
		if k != i {
			// quic-go ties each message slot to its own buffer, so copy
			// the bytes rather than swapping slices.
			d := &ms[k]
			d.N = copy(d.Buffers[0], m.Buffers[0][:m.N])
			d.NN = copy(d.OOB, m.OOB[:m.NN])
			d.Flags, d.Addr = m.Flags, m.Addr
		}
		k++
	}
	return k
}

// deliver decides one datagram: true to hand it to quic-go; false when it
// was forwarded or dropped.
func (c *Conn) deliver(m *ipv4.Message, codec *Codec, routes map[uint32]*route) bool {
	data := m.Buffers[0][:m.N]
	cid, long, err := DestinationCID(data, CIDLen)
	if err != nil {
		c.n.delivered.Add(1) // not QUIC: quic-go drops it or hands it to ReadNonQUICPacket
		return true
	}
	gen, err := codec.decode(cid, &c.block)
	switch {
	case err != nil && long:
		c.n.delivered.Add(1) // a new connection: the client chose this DCID
		return true
	case err != nil:
		c.n.droppedForeign.Add(1)
		return false
	case gen == c.gen:
		c.n.delivered.Add(1)
		return true
	}
	r := routes[gen]
	if r == nil {
		c.n.droppedNoRoute.Add(1)
		return false
	}
	from, _ := m.Addr.(*net.UDPAddr)
	if from == nil {
		c.n.droppedNoRoute.Add(1)
		return false
	}
	c.frame, err = appendFrame(c.frame[:0], from, m.OOB[:m.NN], data)
	if err == nil {
		err = r.send(c.frame)
	}
	switch {
	case err == nil:
		c.n.forwarded.Add(1)
	case full(err):
		c.n.droppedFull.Add(1)
	default:
		c.n.droppedNoRoute.Add(1)
		if gone(err) {
			c.dropRoute(r)
		}
	}
	return false
}

// readLink reads one forwarded frame into m. It reports false (and no
// error) for a frame that did not parse, or when a state change woke it.
func (c *Conn) readLink(m *ipv4.Message) (bool, error) {
	n, err := c.inbox.Read(c.rbuf)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return false, net.ErrClosed
		}
		return false, err
	}
	return c.fill(m, c.rbuf[:n]), nil
}

// fill decodes one forwarded frame into m; false for a frame that does
// not parse (counted, dropped).
func (c *Conn) fill(m *ipv4.Message, frame []byte) bool {
	f, err := parseFrame(frame)
	if err != nil {
		c.n.badFrames.Add(1)
		return false
	}
	m.N = copy(m.Buffers[0], f.datagram)
	m.NN = copy(m.OOB, f.control)
	m.Flags = 0
	m.Addr = f.udpAddr()
	c.n.fromLink.Add(1)
	return true
}

// moreFromLink fills ms with frames already queued on the link, without
// waiting, so that a busy old generation takes a batch per wake-up as it
// would from recvmmsg.
func (c *Conn) moreFromLink(ms []ipv4.Message) int {
	if len(ms) == 0 || c.inboxRaw == nil {
		return 0
	}
	k := 0
	_ = c.inboxRaw.Read(func(fd uintptr) bool {
		for k < len(ms) {
			n, err := unix.Read(int(fd), c.rbuf)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return true // EAGAIN: nothing more queued
			}
			if c.fill(&ms[k], c.rbuf[:n]) {
				k++
			}
		}
		return true
	})
	return k
}

// ReadFrom reads one datagram meant for this generation (see ReadBatch).
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, _, _, addr, err := c.ReadMsgUDP(b, nil)
	if addr == nil {
		return n, nil, err
	}
	return n, addr, err
}

// ReadMsgUDP reads one datagram meant for this generation and its control
// messages (see ReadBatch).
func (c *Conn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	m := c.one
	m[0].Buffers[0] = b
	m[0].OOB = oob
	if _, err := c.ReadBatch(m, 0); err != nil {
		return 0, 0, 0, nil, err
	}
	addr, _ = m[0].Addr.(*net.UDPAddr)
	return m[0].N, m[0].NN, m[0].Flags, addr, nil
}

// WriteTo writes on this generation's copy of the shared socket.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) { return c.udp.WriteTo(b, addr) }

// WriteMsgUDP writes on this generation's copy of the shared socket, with
// control messages (GSO segment size, ECN, source address).
func (c *Conn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	return c.udp.WriteMsgUDP(b, oob, addr)
}

// LocalAddr returns the shared socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.udp.LocalAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for reads, in every state: quic-go
// uses it to stop its reader when the Transport closes.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == closed {
		return net.ErrClosed
	}
	c.deadline = t
	if c.st != draining {
		// After Stop the socket keeps the past deadline that evicted the
		// reader.
		if err := c.udp.SetReadDeadline(t); err != nil {
			return err
		}
	}
	if err := c.inbox.SetReadDeadline(t); err != nil {
		return err
	}
	c.signal()
	return nil
}

// SetWriteDeadline sets the deadline for writes on the shared socket.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.udp.SetWriteDeadline(t) }

// SyscallConn returns the shared socket's raw connection, for quic-go's
// socket options (DF, ECN, packet info, GSO). Reading through it bypasses
// the routing: don't.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.udp.SyscallConn() }

// SetReadBuffer sets SO_RCVBUF on the shared socket.
func (c *Conn) SetReadBuffer(n int) error { return c.udp.SetReadBuffer(n) }

// SetWriteBuffer sets SO_SNDBUF on the shared socket.
func (c *Conn) SetWriteBuffer(n int) error { return c.udp.SetWriteBuffer(n) }

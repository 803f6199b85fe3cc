package handover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// Item is one thing the sender handed over: a connection, a state blob, or
// the sender's counters.
type Item struct {
	// Conn is a connection, now owned by the caller; nil for a state.
	Conn net.Conn
	// Buffered holds the bytes the old generation had read from Conn but
	// not processed: they come before anything Conn will return.
	Buffered []byte
	// Meta is the opaque metadata the sender attached.
	Meta []byte
	// State is a state blob (Conn is then nil).
	State *State
	// Counters are the sender's cumulative counts (Conn and State are
	// then nil); see Counters.
	Counters Counters
}

// Receiver is the new generation's end of an established channel. It is
// meant for one goroutine (Next, and the State it returns); Close may be
// called from any goroutine to interrupt it.
type Receiver struct {
	c *conn

	op sync.Mutex // held while frames are read or written
	// Owned by the op holder:
	queue   []Item // confirmed connections not handed out yet
	seq     uint32 // last conns frame confirmed
	acked   uint64 // connections confirmed
	stateID uint32 // last state begun
	state   *State // the state handed out last, until Next moves on
	broken  error
	done    bool
	admit   func(meta []byte) bool // see Admit

	mu     sync.Mutex
	closed bool
}

// newReceiver makes c, whose handshake is done, the receiving end: the only
// reader that keeps the descriptors of conns frames.
func newReceiver(c *conn) *Receiver {
	c.fr.takesFDs = true
	return &Receiver{c: c}
}

// PeerPID is the pid the sender announced in its hello (checked against
// the kernel's word when Peer.PID was given).
func (r *Receiver) PeerPID() int { return r.c.peerPID }

func (r *Receiver) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Next returns the next thing the sender handed over, in the order it sent
// them, and io.EOF once the sender finished and everything was handed out
// (the sender's Finish then returns). A connection returned is the
// caller's; one not returned yet is closed by Close.
//
// The sender's frames hold up to MaxFDsPerFrame connections; Next confirms
// a frame as it reads it, before handing out any of its connections, and
// returns them one by one.
//
// When Next returns a State, read it and Accept or Refuse it before calling
// Next again; otherwise Next refuses it for the caller. Reads of the State
// are bounded by this call's ctx.
//
// Errors: ErrAborted (the sender aborted, with its reason, or went away
// without finishing), ErrProtocol, ErrClosed, or ctx's error. Connections
// of frames confirmed before the error are handed out first. After an
// error, the Receiver is broken and Next keeps returning it.
func (r *Receiver) Next(ctx context.Context) (Item, error) {
	r.op.Lock()
	defer r.op.Unlock()
	if r.isClosed() {
		return Item{}, fmt.Errorf("handover: next: %w", ErrClosed)
	}
	done := interrupt(ctx, r.c.c.SetDeadline)
	it, err := r.next(ctx)
	if err = prefer(done(), err); err != nil {
		if err == io.EOF {
			return Item{}, io.EOF
		}
		return Item{}, fmt.Errorf("handover: next: %w", err)
	}
	return it, nil
}

func (r *Receiver) next(ctx context.Context) (Item, error) {
	if st := r.state; st != nil {
		if !st.resolved && r.broken == nil {
			if err := st.refuse("the receiver went on without accepting the state"); err != nil {
				return Item{}, err
			}
		}
		r.state = nil
	}
	if len(r.queue) > 0 {
		it := r.queue[0]
		r.queue[0] = Item{}
		r.queue = r.queue[1:]
		return it, nil
	}
	if r.broken != nil {
		return Item{}, r.broken
	}
	if r.done {
		return Item{}, io.EOF
	}
	h, p, err := r.c.fr.readFrame()
	if err != nil {
		return Item{}, r.fail(r.readError(err))
	}
	switch h.typ {
	case frameConns:
		return r.conns(p)
	case frameStateBegin:
		id, version, err := decodeU32Pair(h.typ, p)
		if err != nil {
			return Item{}, r.fail(err)
		}
		if id != r.stateID+1 {
			return Item{}, r.fail(fmt.Errorf("%w: state %d begins after state %d", ErrProtocol, id, r.stateID))
		}
		r.stateID = id
		r.state = newState(r, ctx, id, version)
		return Item{State: r.state}, nil
	case frameDone:
		n, err := decodeU64(h.typ, p)
		if err != nil {
			return Item{}, r.fail(err)
		}
		if n != r.acked {
			return Item{}, r.fail(fmt.Errorf("%w: the sender counts %d connections, this side confirmed %d", ErrProtocol, n, r.acked))
		}
		if _, err := r.c.c.Write(r.c.frame(frameDoneAck, 0, encodeU64(r.acked))); err != nil {
			return Item{}, r.fail(fmt.Errorf("write done-ack: %w", err))
		}
		r.done = true
		return Item{}, io.EOF
	case frameAbort:
		return Item{}, r.fail(fmt.Errorf("%w: %q", ErrAborted, p))
	case frameCounters:
		return r.counters(p)
	}
	return Item{}, r.fail(fmt.Errorf("%w: unexpected %s frame from the sender", ErrProtocol, h.typ))
}

// conns takes a conns frame: make its descriptors connections, ask Admit
// whether this side can serve them, and only then confirm the frame and
// queue them. Nothing that cannot be served is ever acknowledged: a frame
// this side cannot take whole (a descriptor that does not become a
// connection, say at EMFILE, or a connection Admit refuses) is refused
// with an abort before the ack, so the sender knows it never left and
// keeps serving it (see SendConns), and this side closes its copies.
func (r *Receiver) conns(p []byte) (Item, error) {
	fds := r.c.fr.takeFDs()
	seq, recs, err := decodeConns(p)
	if err == nil && len(fds) != len(recs) {
		err = fmt.Errorf("%w: conns frame %d carries %d descriptors for %d connections", ErrProtocol, seq, len(fds), len(recs))
	}
	if err == nil && seq != r.seq+1 {
		err = fmt.Errorf("%w: conns frame %d after frame %d", ErrProtocol, seq, r.seq)
	}
	if err != nil {
		closeAll(fds)
		return Item{}, r.fail(err)
	}
	items := make([]Item, 0, len(fds))
	refuse := func(why error) (Item, error) {
		for _, it := range items {
			it.Conn.Close()
		}
		return Item{}, r.refuse(why)
	}
	for i, fd := range fds {
		c, err := fileConn(fd)
		if err != nil {
			closeAll(fds[i+1:])
			return refuse(fmt.Errorf("%w: descriptor %d of conns frame %d: %w", ErrNotServed, i, seq, err))
		}
		items = append(items, Item{Conn: c, Buffered: recs[i].buffered, Meta: recs[i].meta})
	}
	if r.admit != nil {
		for i, it := range items {
			if !r.admit(it.Meta) {
				return refuse(fmt.Errorf("%w: connection %d of conns frame %d: nobody here serves it", ErrNotServed, i, seq))
			}
		}
	}
	// The ack comes before any connection is handed out: a sender that
	// sees the channel end without it knows that this side never used
	// them, and keeps serving them (see SendConns).
	_, werr := r.c.c.Write(r.c.frame(frameConnsAck, 0, encodeU32Pair(seq, uint32(len(fds)))))
	if werr != nil && !peerGone(werr) {
		// The sender may still be there and will take the missing ack
		// for a refusal: these connections must stay its own.
		for _, it := range items {
			it.Conn.Close()
		}
		return Item{}, r.fail(fmt.Errorf("write conns-ack: %w", werr))
	}
	r.seq = seq
	r.acked += uint64(len(fds))
	if werr != nil {
		// The sender is gone, having written the whole frame: nobody else
		// can own these connections, so they are handed out all the same.
		r.fail(fmt.Errorf("%w: the sender went away: %w", ErrAborted, werr))
	}
	r.queue = items[1:]
	return items[0], nil
}

// refuse ends the transfer without confirming the frame just read: the
// sender is told why, and keeps every connection it has not seen
// confirmed.
func (r *Receiver) refuse(why error) error {
	if r.broken != nil {
		return r.broken
	}
	r.broken = why
	r.c.abort(why.Error())
	r.c.c.Close()
	return why
}

// Admit sets the check every connection of a conns frame passes before the
// frame is confirmed: it gets the connection's Meta and reports whether
// this side can serve it (a listener that still takes connections, a
// program that reads them). One refusal refuses the whole frame, and ends
// the transfer (ErrNotServed): the sender keeps that frame's connections and
// every later one. Call it before the first Next; nil admits everything.
func (r *Receiver) Admit(f func(meta []byte) bool) {
	r.op.Lock()
	defer r.op.Unlock()
	r.admit = f
}

// peerGone tells a write that failed because the other end is closed (it
// cannot read anything any more, nor resume) from one that was cut short.
func peerGone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// fileConn turns a received descriptor into a net.Conn. net.FileConn dups
// it (and, through (*os.File).Fd, briefly switches the shared open file to
// blocking mode before making its dup non-blocking again: harmless here,
// since the sender no longer uses the socket), so the descriptor itself is
// closed afterwards.
func fileConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "handover")
	c, err := net.FileConn(f)
	f.Close()
	return c, err
}

// readError names what a failed frame read means for the transfer.
func (r *Receiver) readError(err error) error {
	switch {
	case errors.Is(err, net.ErrClosed):
		return ErrClosed
	case err == io.EOF:
		return fmt.Errorf("%w: the sender closed the channel without finishing", ErrAborted)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the sender closed the channel in the middle of a frame: %w", ErrAborted, err)
	}
	return err
}

// fail breaks the Receiver. A protocol error is explained to the sender
// before the socket closes.
func (r *Receiver) fail(err error) error {
	if r.broken != nil {
		return r.broken
	}
	r.broken = err
	if errors.Is(err, ErrProtocol) || errors.Is(err, ErrNotServed) {
		r.c.abort(err.Error())
	}
	r.c.c.Close()
	return err
}

// Close ends the channel. Unless the transfer finished, the sender is told
// it was aborted; connections confirmed but not handed out yet are closed
// (they were the receiver's: the sender already let go), and a state not
// accepted counts as refused. Close interrupts a Next or State read in
// progress and waits for it to return.
func (r *Receiver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	if !r.op.TryLock() {
		r.c.c.Close()
		r.op.Lock()
	}
	defer r.op.Unlock()
	if !r.done && r.broken == nil {
		r.c.abort("receiver closed")
	}
	r.c.c.Close()
	for _, it := range r.queue {
		it.Conn.Close()
	}
	r.queue = nil
	return nil
}

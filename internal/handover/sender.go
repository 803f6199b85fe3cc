package handover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Socket is a connection SendConns can hand over: *net.TCPConn,
// *net.UnixConn, *net.UDPConn or *os.File. Its descriptor is duplicated
// through SyscallConn().Control, never Fd(), so that the shared open file
// stays non-blocking.
type Socket interface {
	syscall.Conn
	Close() error
}

// Conn is one connection to hand over.
type Conn struct {
	// Socket is the connection. Nothing in this process may read from or
	// write to it once it is passed to SendConns: a reader would race the
	// new generation for the client's bytes.
	Socket Socket
	// Buffered holds bytes already read from the socket but not processed;
	// the receiver gets them before anything still in the socket. At most
	// MaxBuffered.
	Buffered []byte
	// Meta is opaque to this package (protocol state, a session id...). At
	// most MaxMeta.
	Meta []byte
}

// Sender is the old generation's end of an established channel. Its
// methods may be called from several goroutines; they run one at a time
// (a SendConns waits for a SendState in progress). Any error except those
// listed per method leaves the Sender broken: every later call returns it.
type Sender struct {
	c *conn

	op sync.Mutex // held by the operation that writes frames and consumes replies
	// Owned by the op holder:
	seq       uint32 // conns frames sent
	stateID   uint32 // state blobs begun
	confirmed uint64 // connections the receiver confirmed
	broken    error
	finished  bool
	chunk     []byte

	in         chan reply    // frames from the receiver, read by readLoop
	quit       chan struct{} // closed by Close: readLoop stops delivering
	readerDone chan struct{} // closed when readLoop has returned
	readErr    error         // why readLoop returned; read after readerDone
	ready      chan struct{} // closed by readLoop at the receiver's ready frame (ready.go)

	closeOnce sync.Once
	closed    chan struct{}
}

type reply struct {
	h header
	p []byte
}

func newSender(c *conn) *Sender {
	s := &Sender{
		c:          c,
		in:         make(chan reply, 4),
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
		ready:      make(chan struct{}),
		closed:     make(chan struct{}),
	}
	go s.readLoop()
	return s
}

// PeerPID is the pid the receiver announced in its hello (checked against
// the kernel's word when Peer.PID was given).
func (s *Sender) PeerPID() int { return s.c.peerPID }

// readLoop reads the receiver's frames for the operation in progress. It
// ends when the socket does.
func (s *Sender) readLoop() {
	defer close(s.readerDone)
	for {
		h, p, err := s.c.fr.readFrame()
		if err != nil {
			s.readErr = err
			return
		}
		if h.typ == frameReady {
			s.readied()
			continue
		}
		select {
		case s.in <- reply{h, p}:
		case <-s.quit:
			s.readErr = ErrClosed
			return
		}
	}
}

// errGone reports a receiver that closed its end or died: everything it
// confirmed came before, so whatever it did not confirm it never took.
type errGone struct{ err error }

func (e errGone) Error() string { return e.err.Error() }
func (e errGone) Unwrap() error { return e.err }

// next waits for the receiver's next frame that matters to this operation.
// Results of states this side cancelled are skipped: the receiver may have
// refused one before it saw the cancellation.
func (s *Sender) next(ctx context.Context, pendingState uint32) (reply, error) {
	for {
		var r reply
		select {
		case r = <-s.in:
		case <-s.readerDone:
			select {
			case r = <-s.in:
			default:
				return reply{}, s.gone()
			}
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
		if r.h.typ == frameAbort {
			return reply{}, errGone{fmt.Errorf("%w: %q", ErrAborted, r.p)}
		}
		if r.h.typ == frameStateResult {
			res, err := decodeStateResult(r.p)
			if err == nil && res.id != pendingState && res.id <= s.stateID {
				continue
			}
		}
		return r, nil
	}
}

func (s *Sender) gone() error {
	err := s.readErr
	switch {
	case errors.Is(err, ErrClosed), errors.Is(err, net.ErrClosed):
		return ErrClosed
	case errors.Is(err, ErrProtocol):
		return err
	case errors.Is(err, io.EOF):
		return errGone{fmt.Errorf("%w: the receiver closed the channel", ErrAborted)}
	}
	return errGone{fmt.Errorf("%w: %w", ErrAborted, err)}
}

// explain turns a write that failed because the receiver's end is gone
// into the receiver's own reason (its abort frame) when it gave one.
func (s *Sender) explain(err error) error {
	if !peerGone(err) {
		return err
	}
	t := time.NewTimer(abortTimeout)
	defer t.Stop()
	for {
		select {
		case r := <-s.in:
			if r.h.typ == frameAbort {
				return errGone{fmt.Errorf("%w: %q", ErrAborted, r.p)}
			}
		case <-s.readerDone:
			for {
				select {
				case r := <-s.in:
					if r.h.typ == frameAbort {
						return errGone{fmt.Errorf("%w: %q", ErrAborted, r.p)}
					}
				default:
					return s.gone()
				}
			}
		case <-t.C:
			return errGone{fmt.Errorf("%w: %w", ErrAborted, err)}
		}
	}
}

// begin starts an operation: it takes the op lock and refuses to run on a
// broken or closed Sender. The caller must Unlock s.op.
func (s *Sender) begin() error {
	s.op.Lock()
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	return s.broken
}

// fail breaks the Sender: the stream may be out of sync, so nothing more is
// written, and closing the socket tells the receiver at once.
func (s *Sender) fail(err error) error {
	if s.broken == nil {
		s.broken = err
		s.c.c.Close()
	}
	return err
}

// SendConns hands conns to the receiver, in order, in frames of up to
// MaxFDsPerFrame connections, and returns how many left this process's
// ownership: conns[:n] were handed over (or, with ErrUnconfirmed, closed)
// and conns[n:] are untouched and still the caller's, open.
//
// Each frame's descriptors are duplicated (F_DUPFD_CLOEXEC), written with
// one sendmsg, and the duplicates closed at once. The receiver confirms each
// frame before it hands any of its connections out; only then does
// SendConns close the caller's sockets. Closing only drops this process's
// descriptor (close(2), never shutdown(2), never SO_LINGER): the socket
// lives on in the receiver, and the client sees no FIN and no RST.
//
// Failure leaves no connection with two owners:
//   - the receiver closes its end or aborts before confirming a frame: it
//     never took those connections, so they stay the caller's (n excludes
//     them), and the error wraps ErrAborted;
//   - ctx ends, or the receiver breaks the protocol, after a frame was
//     written but before it was confirmed: nobody can tell whether the
//     receiver took them, so SendConns closes the caller's copies (zero
//     owners is better than two), counts them in n, and the error wraps
//     ErrUnconfirmed;
//   - a Conn fails validation (Buffered or Meta too large, no Socket): no
//     frame is sent (n is 0) and the Sender stays usable;
//   - duplicating a descriptor fails (the socket was closed): the frames
//     before it are sent and the error names the connection; the Sender
//     stays usable.
func (s *Sender) SendConns(ctx context.Context, conns []Conn) (int, error) {
	if err := s.begin(); err != nil {
		s.op.Unlock()
		return 0, fmt.Errorf("handover: send conns: %w", err)
	}
	defer s.op.Unlock()
	for i, c := range conns {
		if c.Socket == nil || len(c.Buffered) > MaxBuffered || len(c.Meta) > MaxMeta {
			return 0, fmt.Errorf("handover: send conns: connection %d: no socket, or buffered (%d) or meta (%d) over the limits (%d, %d)",
				i, len(c.Buffered), len(c.Meta), MaxBuffered, MaxMeta)
		}
	}
	done := interrupt(ctx, s.c.c.SetWriteDeadline)
	n, err := s.sendConns(ctx, conns)
	if err = prefer(done(), err); err != nil {
		return n, fmt.Errorf("handover: send conns (%d of %d handed over): %w", n, len(conns), err)
	}
	return n, nil
}

func (s *Sender) sendConns(ctx context.Context, conns []Conn) (int, error) {
	var buf []byte
	sent := 0
	for sent < len(conns) {
		batch := conns[sent : sent+nextBatch(conns[sent:])]
		fds := make([]int, 0, len(batch))
		for i, c := range batch {
			fd, err := dup(c.Socket)
			if err != nil {
				closeAll(fds)
				return sent, fmt.Errorf("connection %d: %w", sent+i, err)
			}
			fds = append(fds, fd)
		}
		seq := s.seq + 1
		buf = appendConnsPayload(append(buf[:0], make([]byte, headerSize)...), seq, batch)
		header{version: s.c.version, typ: frameConns, length: uint32(len(buf) - headerSize)}.put(buf)
		err := s.c.writeFDs(buf, fds)
		// In flight, the kernel holds its own reference to each socket.
		closeAll(fds)
		if err != nil {
			// The frame did not reach the receiver whole, so it cannot
			// confirm it: the connections are still ours.
			return sent, s.fail(s.explain(fmt.Errorf("write conns frame: %w", err)))
		}
		s.seq = seq
		if err := s.confirm(ctx, seq, len(batch)); err != nil {
			var g errGone
			if errors.As(err, &g) {
				return sent, s.fail(err)
			}
			closeSockets(batch)
			return sent + len(batch), s.fail(fmt.Errorf("%w: %d connections closed on this side: %w", ErrUnconfirmed, len(batch), err))
		}
		closeSockets(batch)
		sent += len(batch)
		s.confirmed += uint64(len(batch))
	}
	return sent, nil
}

// confirm waits for the receiver's ack of conns frame seq.
func (s *Sender) confirm(ctx context.Context, seq uint32, count int) error {
	r, err := s.next(ctx, 0)
	if err != nil {
		return err
	}
	if r.h.typ != frameConnsAck {
		return fmt.Errorf("%w: %s frame while waiting for conns-ack %d", ErrProtocol, r.h.typ, seq)
	}
	aseq, acount, err := decodeU32Pair(r.h.typ, r.p)
	if err != nil {
		return err
	}
	if aseq != seq || int(acount) != count {
		return fmt.Errorf("%w: conns-ack for frame %d with %d connections, expected frame %d with %d", ErrProtocol, aseq, acount, seq, count)
	}
	return nil
}

// nextBatch returns how many of conns fit in the next frame (at least one:
// the limits on Buffered and Meta guarantee it).
func nextBatch(conns []Conn) int {
	n, size := 0, connsHeaderSize
	for n < len(conns) && n < MaxFDsPerFrame {
		rs := recordSize(conns[n])
		if size+rs > MaxPayload {
			break
		}
		size += rs
		n++
	}
	return n
}

// dup duplicates the socket's descriptor with F_DUPFD_CLOEXEC inside
// Control, leaving the shared open file non-blocking.
func dup(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	return dupRaw(rc)
}

// closeSockets drops this process's descriptors of handed-over sockets.
// For net and os types, Close is close(2) and nothing else, so the socket,
// alive in the receiver, sends nothing to the client.
func closeSockets(conns []Conn) {
	for _, c := range conns {
		c.Socket.Close()
	}
}

// Finish ends the transfer cleanly: it tells the receiver how many
// connections it confirmed, waits until the receiver has consumed
// everything (its Next returned io.EOF) and agrees, then closes the
// channel. Afterwards the Sender is closed. A disagreement is ErrProtocol.
func (s *Sender) Finish(ctx context.Context) error {
	if err := s.begin(); err != nil {
		s.op.Unlock()
		return fmt.Errorf("handover: finish: %w", err)
	}
	defer func() {
		s.op.Unlock()
		s.Close()
	}()
	done := interrupt(ctx, s.c.c.SetWriteDeadline)
	err := s.finish(ctx)
	if err = prefer(done(), err); err != nil {
		return fmt.Errorf("handover: finish: %w", s.fail(err))
	}
	s.finished = true
	return nil
}

func (s *Sender) finish(ctx context.Context) error {
	if _, err := s.c.c.Write(s.c.frame(frameDone, 0, encodeU64(s.confirmed))); err != nil {
		return s.explain(fmt.Errorf("write done: %w", err))
	}
	r, err := s.next(ctx, 0)
	if err != nil {
		return err
	}
	if r.h.typ != frameDoneAck {
		return fmt.Errorf("%w: %s frame while waiting for done-ack", ErrProtocol, r.h.typ)
	}
	n, err := decodeU64(r.h.typ, r.p)
	if err != nil {
		return err
	}
	if n != s.confirmed {
		return fmt.Errorf("%w: the receiver counts %d connections, this side %d", ErrProtocol, n, s.confirmed)
	}
	return nil
}

// Abort tells the receiver that the transfer is abandoned, with reason,
// and closes the channel. Connections already confirmed are the
// receiver's; the caller keeps everything else. Abort does not wait for an
// operation in progress: it makes it fail (ErrClosed).
func (s *Sender) Abort(reason string) error {
	s.close(reason)
	return nil
}

// Close is Abort("sender closed") unless Finish succeeded; it is safe to
// call more than once and from any goroutine.
func (s *Sender) Close() error {
	s.close("sender closed")
	return nil
}

func (s *Sender) close(reason string) {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.op.TryLock() {
			if s.broken == nil && !s.finished {
				s.c.abort(reason)
			}
			s.c.c.Close()
			s.op.Unlock()
		} else {
			s.c.c.Close() // the operation in progress fails and unlocks
		}
		close(s.quit)
		<-s.readerDone
	})
}

// Alive reports whether the channel may still carry connections: the
// Sender is not closed, finished or broken, and the receiver has not closed
// its end (or died) as far as this side has seen. A false answer is final;
// a true one can be overtaken at once, so a SendConns may still fail (and
// then leaves the unconfirmed connections to the caller, see SendConns).
func (s *Sender) Alive() bool {
	select {
	case <-s.closed:
		return false
	case <-s.readerDone:
		return false
	default:
	}
	if !s.op.TryLock() {
		return true // an operation in progress: it will tell
	}
	defer s.op.Unlock()
	return s.broken == nil && !s.finished
}

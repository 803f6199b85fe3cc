package handover

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// SendState streams an opaque state blob from src to the receiver in
// chunks, with its version (the receiver's to interpret) and a SHA-256 of
// the whole, and waits for the receiver's verdict. Neither side holds more
// than one chunk (256 KiB) in memory, whatever the blob's size; there is
// no size limit besides the time it takes (SendState is bounded by ctx).
//
// Returns nil when the receiver accepted the blob, ErrRefused (with its
// reason) when it refused it, early or at the end, and ErrChecksum when it
// arrived corrupt. If src fails, the blob is cancelled and src's error
// returned. After these four the Sender stays usable; any other error
// (ctx, the channel) breaks it. A refusal seen while streaming stops the
// stream at the next chunk, so refusing a large blob early is cheap.
func (s *Sender) SendState(ctx context.Context, version uint32, src io.Reader) error {
	if err := s.begin(); err != nil {
		s.op.Unlock()
		return fmt.Errorf("handover: send state: %w", err)
	}
	defer s.op.Unlock()
	done := interrupt(ctx, s.c.c.SetWriteDeadline)
	err := s.sendState(ctx, version, src)
	if err = prefer(done(), err); err != nil {
		return fmt.Errorf("handover: send state: %w", err)
	}
	return nil
}

func (s *Sender) sendState(ctx context.Context, version uint32, src io.Reader) error {
	s.stateID++
	id := s.stateID
	if _, err := s.c.c.Write(s.c.frame(frameStateBegin, 0, encodeU32Pair(id, version))); err != nil {
		return s.fail(s.explain(fmt.Errorf("write state-begin: %w", err)))
	}
	if s.chunk == nil {
		s.chunk = make([]byte, headerSize+stateChunk)
	}
	sum := sha256.New()
	var n uint64
	cancel := func() error {
		end := stateEnd{id: id, length: n}
		if _, err := s.c.c.Write(s.c.frame(frameStateEnd, flagCancelled, end.encode())); err != nil {
			return s.fail(s.explain(fmt.Errorf("write state-end: %w", err)))
		}
		return nil
	}
	for {
		res, ok, err := s.poll(id)
		if err != nil {
			return s.fail(err)
		}
		if ok {
			if res.status != stateRefused {
				return s.fail(fmt.Errorf("%w: state %d %s before its end", ErrProtocol, id, res.status))
			}
			if err := cancel(); err != nil {
				return err
			}
			return res.err(n)
		}
		k, rerr := io.ReadFull(src, s.chunk[headerSize:])
		if k > 0 {
			header{version: s.c.version, typ: frameStateChunk, length: uint32(k)}.put(s.chunk)
			sum.Write(s.chunk[headerSize : headerSize+k])
			n += uint64(k)
			if _, err := s.c.c.Write(s.chunk[:headerSize+k]); err != nil {
				return s.fail(s.explain(fmt.Errorf("write state-chunk: %w", err)))
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			if err := cancel(); err != nil {
				return err
			}
			return fmt.Errorf("read source after %d bytes: %w", n, rerr)
		}
	}
	end := stateEnd{id: id, length: n, sum: [32]byte(sum.Sum(nil))}
	if _, err := s.c.c.Write(s.c.frame(frameStateEnd, 0, end.encode())); err != nil {
		return s.fail(s.explain(fmt.Errorf("write state-end: %w", err)))
	}
	r, err := s.next(ctx, id)
	if err != nil {
		return s.fail(err)
	}
	if r.h.typ != frameStateResult {
		return s.fail(fmt.Errorf("%w: %s frame while waiting for the result of state %d", ErrProtocol, r.h.typ, id))
	}
	res, err := decodeStateResult(r.p)
	if err != nil {
		return s.fail(err)
	}
	if res.id != id {
		return s.fail(fmt.Errorf("%w: result for state %d while waiting for state %d", ErrProtocol, res.id, id))
	}
	return res.err(n)
}

// poll returns the receiver's verdict on state id if it already came (an
// early refusal), without waiting.
func (s *Sender) poll(id uint32) (stateResult, bool, error) {
	for {
		select {
		case r := <-s.in:
			if r.h.typ == frameAbort {
				return stateResult{}, false, errGone{fmt.Errorf("%w: %q", ErrAborted, r.p)}
			}
			if r.h.typ != frameStateResult {
				return stateResult{}, false, fmt.Errorf("%w: %s frame while sending state %d", ErrProtocol, r.h.typ, id)
			}
			res, err := decodeStateResult(r.p)
			if err != nil {
				return res, false, err
			}
			if res.id < id {
				continue // for a state this side cancelled
			}
			if res.id > id {
				return res, false, fmt.Errorf("%w: result for state %d while sending state %d", ErrProtocol, res.id, id)
			}
			return res, true, nil
		default:
			return stateResult{}, false, nil
		}
	}
}

func (st resultStatus) String() string {
	switch st {
	case stateAccepted:
		return "accepted"
	case stateRefused:
		return "refused"
	case stateCorrupt:
		return "corrupt"
	}
	return fmt.Sprintf("status %d", uint8(st))
}

// err is the sender's view of a verdict.
func (r stateResult) err(sent uint64) error {
	switch r.status {
	case stateAccepted:
		return nil
	case stateCorrupt:
		return fmt.Errorf("%w (state %d, %d bytes sent): %q", ErrChecksum, r.id, sent, r.reason)
	}
	return fmt.Errorf("%w (state %d, after %d bytes): %q", ErrRefused, r.id, sent, r.reason)
}

// State is a state blob as it arrives. Read it to io.EOF (which comes only
// once its length and SHA-256 are verified), then Accept or Refuse it.
// Refuse may come at any time; it tells the sender at once, and the sender
// stops streaming. A State belongs to the Receiver's goroutine, and its
// reads are bounded by the ctx of the Next call that returned it.
type State struct {
	// Version is the sender's version of the blob's format.
	Version uint32

	r        *Receiver
	ctx      context.Context
	id       uint32
	left     uint32 // bytes of the current chunk not read yet
	sum      hash.Hash
	n        uint64
	ended    bool  // the state-end frame was read
	verified bool  // ... and matched
	err      error // sticky read error
	resolved bool  // a verdict was sent, or none is expected
}

func newState(r *Receiver, ctx context.Context, id, version uint32) *State {
	return &State{Version: version, r: r, ctx: ctx, id: id, sum: sha256.New()}
}

// Read reads the blob. At the end it returns io.EOF if the blob is intact,
// ErrChecksum if it is not (the sender is told), and ErrStateCancelled if
// the sender gave up on it.
func (s *State) Read(p []byte) (int, error) {
	r := s.r
	r.op.Lock()
	defer r.op.Unlock()
	if r.isClosed() {
		return 0, fmt.Errorf("handover: read state: %w", ErrClosed)
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.verified {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	done := interrupt(s.ctx, r.c.c.SetDeadline)
	n, err := s.read(p)
	if err = prefer(done(), err); err != nil && err != io.EOF {
		s.err = fmt.Errorf("handover: read state: %w", err)
		if r.broken == nil && !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrStateCancelled) {
			r.fail(err)
		}
		return n, s.err
	}
	return n, err
}

func (s *State) read(p []byte) (int, error) {
	fr := s.r.c.fr
	for s.left == 0 {
		if err := s.nextFrame(); err != nil {
			return 0, err
		}
	}
	k := min(len(p), int(s.left))
	if err := fr.fill(p[:k]); err != nil {
		fr.closeFDs()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, s.r.fail(s.r.readError(err))
	}
	if err := fr.refuseFDs(header{typ: frameStateChunk}); err != nil {
		return 0, s.r.fail(err)
	}
	s.sum.Write(p[:k])
	s.n += uint64(k)
	s.left -= uint32(k)
	return k, nil
}

// nextFrame reads the frame after a chunk: another chunk (s.left is set),
// the end (io.EOF or the reason it is not), or an abort.
func (s *State) nextFrame() error {
	r := s.r
	fr := r.c.fr
	h, err := fr.readHeader()
	if err != nil {
		fr.closeFDs()
		return r.fail(r.readError(err))
	}
	if h.typ == frameStateChunk {
		// The chunk's bytes are read straight into the caller's buffers.
		s.left = h.length
		return fr.refuseFDs(h)
	}
	p, err := fr.readPayload(h)
	if err == nil {
		err = fr.refuseFDs(h)
	}
	if err != nil {
		return r.fail(r.readError(err))
	}
	switch h.typ {
	case frameStateEnd:
	case frameAbort:
		return r.fail(fmt.Errorf("%w: %q", ErrAborted, p))
	default:
		return r.fail(fmt.Errorf("%w: unexpected %s frame in state %d", ErrProtocol, h.typ, s.id))
	}
	end, err := decodeStateEnd(p)
	if err != nil {
		return r.fail(err)
	}
	if end.id != s.id {
		return r.fail(fmt.Errorf("%w: end of state %d inside state %d", ErrProtocol, end.id, s.id))
	}
	s.ended = true
	if h.flags&flagCancelled != 0 {
		s.resolved = true // the sender expects no verdict
		return fmt.Errorf("%w after %d bytes", ErrStateCancelled, end.length)
	}
	if s.resolved {
		return nil // refused while it streamed: the rest was skipped, not checked
	}
	if got := [32]byte(s.sum.Sum(nil)); end.length != s.n || got != end.sum {
		err := fmt.Errorf("%w: received %d bytes with sha256 %x, the sender sent %d bytes with sha256 %x", ErrChecksum, s.n, got, end.length, end.sum)
		s.resolved = true
		if werr := s.verdict(stateCorrupt, err.Error()); werr != nil {
			return werr
		}
		return err
	}
	s.verified = true
	return io.EOF
}

// verdict sends the receiver's decision on the blob.
func (s *State) verdict(st resultStatus, reason string) error {
	res := stateResult{id: s.id, status: st, reason: reason}
	if _, err := s.r.c.c.Write(s.r.c.frame(frameStateResult, 0, res.encode())); err != nil {
		return s.r.fail(fmt.Errorf("write state-result: %w", err))
	}
	s.resolved = true
	return nil
}

// Accept tells the sender the blob was taken (its SendState returns nil).
// The blob must have been read to io.EOF.
func (s *State) Accept() error {
	r := s.r
	r.op.Lock()
	defer r.op.Unlock()
	switch {
	case r.isClosed():
		return fmt.Errorf("handover: accept state: %w", ErrClosed)
	case s.resolved:
		return errors.New("handover: accept state: already accepted, refused or cancelled")
	case !s.verified:
		return errors.New("handover: accept state: not read to the end")
	case r.broken != nil:
		return fmt.Errorf("handover: accept state: %w", r.broken)
	}
	done := interrupt(s.ctx, r.c.c.SetDeadline)
	err := s.verdict(stateAccepted, "")
	if err = prefer(done(), err); err != nil {
		return fmt.Errorf("handover: accept state: %w", err)
	}
	return nil
}

// Refuse tells the sender the blob is not wanted, with a reason its
// SendState reports (ErrRefused). It may come before the blob was read:
// the rest is then skipped, and the sender stops sending it. Refusing a
// blob already refused or cancelled is a no-op.
func (s *State) Refuse(reason string) error {
	r := s.r
	r.op.Lock()
	defer r.op.Unlock()
	switch {
	case r.isClosed():
		return fmt.Errorf("handover: refuse state: %w", ErrClosed)
	case s.resolved:
		return nil
	case r.broken != nil:
		return fmt.Errorf("handover: refuse state: %w", r.broken)
	}
	done := interrupt(s.ctx, r.c.c.SetDeadline)
	err := s.refuse(reason)
	if err = prefer(done(), err); err != nil {
		return fmt.Errorf("handover: refuse state: %w", err)
	}
	return nil
}

// refuse sends the refusal and skips the rest of the blob (op held).
func (s *State) refuse(reason string) error {
	if err := s.verdict(stateRefused, reason); err != nil {
		return err
	}
	s.err = fmt.Errorf("handover: read state: %w by this receiver", ErrRefused)
	var scratch [32 << 10]byte
	for !s.ended {
		for s.left > 0 {
			k := min(len(scratch), int(s.left))
			if _, err := s.read(scratch[:k]); err != nil {
				return err
			}
		}
		if err := s.nextFrame(); err != nil && !s.ended {
			return err
		}
	}
	return nil
}

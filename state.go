package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
)

// State is the state blob the previous generation handed over
// (Options.SaveState there), as it streams in: the blob is never held
// whole in memory on either side. Read it to io.EOF, then Accept or
// Refuse it.
type State struct {
	// Version is the previous generation's Options.StateVersion: the
	// blob's format, for this program to judge.
	Version uint32

	s *handover.State
}

// Read reads the blob. io.EOF comes only once the whole blob arrived and
// its length and SHA-256 matched what the sender computed; a corrupt blob
// ends in an error instead (the sender is told).
func (s *State) Read(p []byte) (int, error) { return s.s.Read(p) }

// Accept tells the previous generation that the blob was taken. The blob
// must have been read to io.EOF.
func (s *State) Accept() error { return s.s.Accept() }

// Refuse tells the previous generation that the blob is not wanted (an
// unknown Version, say), with a reason it logs. It may come before the
// blob was read: the sender stops streaming it.
func (s *State) Refuse(reason string) error { return s.s.Refuse(reason) }

// State returns the state the previous generation handed over, to be read
// before this generation serves: call it before Ready, and Accept or Refuse
// the blob before Ready too (Ready refuses a blob left unsettled). ctx
// bounds the wait for the blob and every Read of it.
//
// It returns ErrNoState when there is nothing to receive: a first start,
// a previous generation without Options.SaveState, or one that failed to
// produce the blob (its error is in the message). State can be called
// once.
//
// The blob is the previous generation's snapshot taken while it still
// served (it is produced as soon as this generation connects): changes it
// makes afterwards are not in it. Under the supervisor it is the state of
// the worker this one replaces.
func (h *Handoff) State(ctx context.Context) (*State, error) {
	h.mu.Lock()
	asked, phase := h.stateAsked, h.phase
	h.stateAsked = true
	h.mu.Unlock()
	switch {
	case asked:
		return nil, fmt.Errorf("%w: State was already called", ErrNoState)
	case phase != Starting:
		return nil, fmt.Errorf("%w: State must be called before Ready", ErrNoState)
	case !h.expectState:
		return nil, ErrNoState
	}
	r, err := h.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoState, err)
	}
	for {
		it, err := r.Next(ctx)
		switch {
		case errors.Is(err, handover.ErrStateCancelled):
			return nil, fmt.Errorf("%w: the previous generation could not produce it: %v", ErrNoState, err)
		case errors.Is(err, io.EOF):
			return nil, ErrNoState
		case err != nil:
			return nil, fmt.Errorf("handoff: state: %w", err)
		case it.State != nil:
			return &State{Version: it.State.Version, s: it.State}, nil
		}
		// A connection before the state (not what this library sends):
		// keep it for the receiving loop.
		h.mu.Lock()
		h.early = append(h.early, it)
		h.mu.Unlock()
	}
}

// giveState streams Options.SaveState to a successor that just connected.
// A failure is logged: the successor starts without the state.
func (h *Handoff) giveState(ctx context.Context, s *handover.Sender) {
	if h.opts.SaveState == nil {
		return
	}
	start := time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(h.opts.SaveState(pw)) }()
	src := &countReader{r: pr}
	err := s.SendState(ctx, h.opts.StateVersion, src)
	// Unblocks SaveState if the blob was refused or the channel failed.
	pr.CloseWithError(errors.New("handoff: the state is no longer read"))
	if err != nil {
		h.log.Warn("handoff: state: not handed over", "err", err, "bytes", src.n)
		return
	}
	h.log.Info("handoff: state handed over", "bytes", src.n, "took", time.Since(start).Round(time.Millisecond))
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

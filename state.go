package handoff

import (
	"context"
	"io"
)

// State is the state blob the previous generation handed over
// (Options.SaveState there), as it streams in: the blob is never held
// whole in memory on either side. Read it to io.EOF, then Accept or
// Refuse it.
type State struct {
	// Version is the previous generation's Options.StateVersion: the
	// blob's format, for this program to judge.
	Version uint32

	s stateSource
}

// stateSource is where a State's bytes and verdict go (predecessor.go).
type stateSource interface {
	io.Reader
	Accept() error
	Refuse(reason string) error
}

// Read reads the blob. io.EOF comes only once the whole blob arrived and
// its length and SHA-256 matched what the sender computed; a corrupt blob
// ends in ErrStateCorrupt instead (the sender is told), a broken channel
// in ErrHandover.
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
// a previous generation without Options.SaveState, one that failed to
// produce the blob (its error is wrapped), or Windows. State can be called
// once, before Ready: a second call, or one after Ready, returns
// ErrStateMisuse.
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
		return nil, ErrStateMisuse
	case phase != PhaseStarting:
		return nil, ErrStateMisuse
	case h.links == nil:
		return nil, ErrNoState
	}
	return h.links.state(ctx)
}

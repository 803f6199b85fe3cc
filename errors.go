package handoff

import "errors"

// Errors callers branch on, with errors.Is. Every error the package returns
// wraps one of these or a system error (an *os.PathError, a *net.OpError,
// fs.ErrNotExist...), keeps its cause (errors.Is and errors.As see through
// it), and names the operation that failed. The one exception is State's
// Read, which returns io.EOF unwrapped at the end of the blob, as io.Reader
// requires.
var (
	// ErrUpgradeInProgress is no longer returned: an upgrade requested
	// while another runs queues a follow-up and waits for it (see
	// Handoff.Upgrade). Kept so that code that tests for it still builds.
	ErrUpgradeInProgress = errors.New("handoff: an upgrade is already in progress")
	// ErrPassedOn: the upgrade a call asked for was queued behind another
	// that succeeded, and was passed to the new generation, which serves
	// now and runs it (Handoff.Upgrade). This generation drains.
	ErrPassedOn = errors.New("handoff: the upgrade was passed on to the new generation")
	// ErrNotServing: the operation needs a serving generation, and this one
	// is still starting (Ready not called), draining, or stopped.
	ErrNotServing = errors.New("handoff: this generation is not serving")
	// ErrSupervised: the process runs under the handoff supervisor, which owns
	// upgrades; ask it with `handoff upgrade`.
	ErrSupervised = errors.New("handoff: running under the handoff supervisor, which performs upgrades")
	// ErrUpgradeFailed: the new generation exited, crashed or did not become
	// ready in time, or could not be started at all. It was killed; this
	// generation keeps serving.
	ErrUpgradeFailed = errors.New("handoff: upgrade failed")
	// ErrRolledBack: the new generation became ready, then died within the
	// probation window; this generation resumed accepting.
	ErrRolledBack = errors.New("handoff: upgrade rolled back")
	// ErrTooManyDraining: older generations still draining reached
	// Options.MaxDraining and the oldest could not be retired (off Linux,
	// where its pid cannot be checked against reuse); wait for them to
	// exit.
	ErrTooManyDraining = errors.New("handoff: too many generations still draining")
	// ErrStopped: the Handoff was stopped, or a stop (signal, Drain, Stop)
	// ended the upgrade it answers: its new generation was killed.
	ErrStopped = errors.New("handoff: stopped")
	// ErrNotSupported: this platform, or this kind of socket, cannot do what
	// was asked. Upgrade returns it on Windows, where sockets cannot be
	// passed to another process (the program serves plain there), and Listen
	// and ListenPacket for a network they do not take.
	ErrNotSupported = errors.New("handoff: not supported")
	// ErrProtocol: the other generation speaks a protocol version this build
	// does not understand, or passed malformed protocol variables
	// (HANDOFF_*, LISTEN_FDS...).
	ErrProtocol = errors.New("handoff: protocol mismatch between generations")
	// ErrHandover: the handover channel between the generations failed: the
	// other side closed it, aborted, or sent what this build cannot accept.
	// The error wraps the cause.
	ErrHandover = errors.New("handoff: handover channel failed")
	// ErrUnconfirmed: PassConns sent connections the new generation never
	// confirmed (the context expired or the channel broke meanwhile). They
	// are counted as moved and were closed here: the new generation may
	// have them, and a connection must never have two owners. Also wraps
	// ErrHandover.
	ErrUnconfirmed = errors.New("handoff: connections sent but not confirmed")
	// ErrNoSuccessor: PassConns found no new generation to pass connections
	// to (none took over, or it did not connect its handover channel).
	ErrNoSuccessor = errors.New("handoff: no new generation takes connections")
	// ErrNotMovable: a connection cannot move to another process: it has
	// no socket underneath (a TLS connection, a net.Pipe).
	ErrNotMovable = errors.New("handoff: connection has no socket to pass (TLS and other wrapped connections cannot move)")
	// ErrNoState: State found no state blob from a previous generation
	// (there is none, it has no Options.SaveState, it failed to produce
	// one, or it is not a handoff program).
	ErrNoState = errors.New("handoff: the previous generation handed over no state")
	// ErrStateMisuse: State was called a second time, or after Ready.
	ErrStateMisuse = errors.New("handoff: State must be called once, before Ready")
	// ErrStateCorrupt: the state blob arrived corrupt: its length or
	// SHA-256 differ from what the previous generation computed.
	ErrStateCorrupt = errors.New("handoff: state blob corrupt")
	// ErrBadName: a name for File is not one LISTEN_FDNAMES can carry.
	ErrBadName = errors.New("handoff: invalid descriptor name")
)

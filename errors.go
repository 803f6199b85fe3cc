package handoff

import (
	"errors"

	"github.com/handoff-go/handoff/internal/proto"
)

// Errors callers branch on, with errors.Is. Every error the package returns
// wraps one of these or a system error, and names the operation that failed.
var (
	// ErrUpgradeInProgress: an upgrade was requested while another one was
	// still running. The running one is unaffected; requests are not queued.
	ErrUpgradeInProgress = errors.New("handoff: an upgrade is already in progress")
	// ErrNotServing: the operation needs a serving generation, and this one
	// is still starting (Ready not called), draining, or stopped.
	ErrNotServing = errors.New("handoff: this generation is not serving")
	// ErrSupervised: the process runs under the handoff supervisor, which owns
	// upgrades; ask it with `handoff upgrade`.
	ErrSupervised = errors.New("handoff: running under the handoff supervisor, which performs upgrades")
	// ErrUpgradeFailed: the new generation exited, crashed or did not become
	// ready in time. It was killed; this generation keeps serving.
	ErrUpgradeFailed = errors.New("handoff: upgrade failed")
	// ErrRolledBack: the new generation became ready, then died within the
	// probation window; this generation resumed accepting.
	ErrRolledBack = errors.New("handoff: upgrade rolled back")
	// ErrTooManyDraining: older generations still draining reached
	// Options.MaxDraining; wait for them to exit.
	ErrTooManyDraining = errors.New("handoff: too many generations still draining")
	// ErrStopped: the Handoff was stopped.
	ErrStopped = errors.New("handoff: stopped")
	// ErrProtocol: the other generation speaks a protocol version this build
	// does not understand.
	ErrProtocol = proto.ErrVersion
	// ErrNoSuccessor: HandOver found no new generation to pass connections
	// to (none took over, or it did not connect its handover channel).
	ErrNoSuccessor = errors.New("handoff: no new generation takes connections")
	// ErrNotMovable: a connection cannot move to another process: it has
	// no socket underneath (a TLS connection, a net.Pipe).
	ErrNotMovable = errors.New("handoff: connection has no socket to pass (TLS and other wrapped connections cannot move)")
	// ErrNoState: State found no state blob from a previous generation
	// (there is none, it has no Options.SaveState, or it is not a handoff
	// program).
	ErrNoState = errors.New("handoff: the previous generation handed over no state")
)

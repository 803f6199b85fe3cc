package control

import "time"

// Stage names one step of an upgrade as reported in an Event.
type Stage string

// Stages of an upgrade, in the order they usually happen. Final stages
// (StageDone, StageFailed, StageRolledBack, StageRefused) end the stream.
const (
	// StageCoalesced: another upgrade was already running. If it had not
	// yet resolved the program, this caller joined it and receives its
	// events and result; otherwise this caller waits for the one follow-up
	// upgrade queued behind it (shared by every trigger that arrives
	// meanwhile), which resolves the program on disk again, and receives
	// the follow-up's events and result.
	StageCoalesced Stage = "coalesced"
	// StageStarting: the program was resolved and is being started.
	StageStarting Stage = "starting"
	// StageStarted: one new worker process exists (Event.PID).
	StageStarted Stage = "started"
	// StageReady: a new worker reported readiness after Event.Ms.
	StageReady Stage = "ready"
	// StageDraining: an older generation was told to drain.
	StageDraining Stage = "draining"
	// StageDrained: workers of an older generation exited; Event.Workers
	// says how many of its workers are still draining.
	StageDrained Stage = "drained"
	// StageProbation: the new generation serves; it is being watched for
	// Event.Ms before the upgrade counts as done.
	StageProbation Stage = "probation"
	// StageInfo: anything else worth telling the operator (Event.Message).
	StageInfo Stage = "info"

	// StageDone: the new generation serves and survived probation.
	StageDone Stage = "done"
	// StageFailed: nothing changed for clients: the new generation was
	// killed (or never started) and the previous one still serves.
	StageFailed Stage = "failed"
	// StageRolledBack: the new generation died during probation and the
	// previous program (the exact bytes, on Linux) serves again.
	StageRolledBack Stage = "rolled_back"
	// StageRefused: the request was not accepted (the supervisor is
	// stopping, or a pre-flight check failed: Event.Reason says which);
	// nothing was started and the serving generation is untouched.
	StageRefused Stage = "refused"
)

// Final reports whether s ends an upgrade's event stream.
func (s Stage) Final() bool {
	switch s {
	case StageDone, StageFailed, StageRolledBack, StageRefused:
		return true
	}
	return false
}

// Event is one line of the POST /upgrade stream.
type Event struct {
	Time       time.Time `json:"time"`
	Stage      Stage     `json:"stage"`
	Generation int       `json:"generation,omitempty"`
	PID        int       `json:"pid,omitempty"`
	Path       string    `json:"path,omitempty"`
	Ms         int64     `json:"ms,omitempty"`
	// Workers is, for StageDrained, how many workers of the draining
	// generation are still alive.
	Workers int    `json:"workers,omitempty"`
	Message string `json:"message,omitempty"`
	// Reason names the pre-flight check that refused the request
	// (Reason* constants), on a StageRefused event.
	Reason string `json:"reason,omitempty"`
	// Final is set on the last event of a stream; Stage is then one of
	// the final stages and Message explains a failure or rollback.
	Final bool `json:"final,omitempty"`
}

// Exit codes of `handoff upgrade`, chosen so scripts can branch on them.
const (
	ExitDone       = 0 // the new generation serves
	ExitFailed     = 1 // the upgrade failed; the previous generation still serves
	ExitUsage      = 2 // bad flags, or the control socket could not be reached
	ExitRolledBack = 3 // the new generation died in probation; the previous program serves again
	ExitUnknown    = 4 // the connection broke before the outcome: ask `handoff status`
)

// ExitCode maps the final stage of an upgrade to the exit code of
// `handoff upgrade`.
func ExitCode(s Stage) int {
	switch s {
	case StageDone:
		return ExitDone
	case StageRolledBack:
		return ExitRolledBack
	}
	return ExitFailed
}

package proto

// A supervisor that upgrades itself (`handoff upgrade --self`) re-executes
// its binary in place, with the same pid, and hands everything it owns to
// the new binary as one versioned state document (JSON, in a memfd whose
// descriptor survives the exec; the descriptors the document names survive
// with it). The new binary refuses a document of another version, and the
// old one asks the new binary which version it speaks before the point of
// no return.
//
// State version history:
//
//	1: the first version.
//	2: the takeover listener (takeover_fd, takeover_ino), so that a
//	   supervisor run with --takeover serves takeovers on after a
//	   self-upgrade. A version-1 reader would ignore the field and leave
//	   the descriptor open, inherited by every worker it starts: hence the
//	   new version (a self-upgrade between 1 and 2 is refused by the
//	   pre-flight, "speaks supervisor state version 1").
const (
	// EnvSupervisorState holds the number of the descriptor that carries
	// the state document. Only a supervisor's own re-exec sets it; the new
	// binary removes it from its environment at once.
	EnvSupervisorState = "HANDOFF_SUPERVISOR_STATE"
	// SupervisorStateVersion is the state document version this build
	// writes and reads.
	SupervisorStateVersion = 2
	// StateVersionCommand is the hidden subcommand of the handoff binary
	// that prints SupervisorStateVersion and exits 0: the pre-flight a
	// supervisor runs on the binary it is about to become.
	StateVersionCommand = "internal-state-version"
)

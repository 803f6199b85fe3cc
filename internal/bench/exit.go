package bench

// Exit statuses of `handoff bench` and `handoff demo`, the same as every
// handoff subcommand's. ExitUsage is control.ExitUsage (exit_test.go checks
// it), spelled out so that this package does not need the control socket's
// package on systems that have no supervisor.
const (
	ExitOK          = 0
	ExitFail        = 1   // a request or an upgrade failed
	ExitUsage       = 2   // bad flags, or the run could not start
	ExitInterrupted = 130 // the run was cancelled (Ctrl-C, SIGTERM)
)

//go:build !windows

package main

import (
	"io"

	"github.com/handoff-go/handoff/internal/control"
)

func init() {
	register(&command{
		Name:    "upgrade",
		Summary: "upgrade a running supervisor's program and print each stage as it happens",
		Run:     upgradeCmd,
	})
}

const upgradeSynopsis = `upgrade [--control SOCK] [--json] [--self]

Starts a new generation of the supervised program (looked up on disk again),
waits until it is ready, drains the old one and watches the new one through
its probation. If another upgrade is already running, this call waits for it
and then reports a follow-up upgrade that looks the program up on disk again
(it says so, "coalesced ... waited"): the result is always that of an upgrade
which ran the program as it was when the call was made, or newer. Calls made
meanwhile share that one follow-up.

Exit status: 0 the new generation serves; 1 the upgrade failed and the
previous generation still serves; 2 bad flags or no supervisor reachable;
3 rolled back (the new generation died in probation, the previous program
serves again); 4 the connection broke before the outcome (see handoff status).
` + refusalCodes + selfSynopsis

func upgradeCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("upgrade", upgradeSynopsis, stderr)
	self := fs.Bool("self", false, "upgrade the supervisor itself: re-execute its binary from disk in place (same pid, workers keep serving; Linux); see below")
	return streamOn(fs, "upgrade", func() streamCall {
		if *self {
			return upgradeSelf
		}
		return (*control.Client).Upgrade
	}, args, stdout, stderr)
}

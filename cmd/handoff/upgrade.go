//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func init() {
	register(&command{
		Name:    "upgrade",
		Summary: "upgrade a running supervisor's program and print each stage as it happens",
		Run:     upgradeCmd,
	})
}

const upgradeSynopsis = `upgrade [--control SOCK] [--json]

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
` + refusalCodes

func upgradeCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("upgrade", upgradeSynopsis, stderr)
	asJSON := fs.Bool("json", false, "print the events as JSON lines, as the supervisor sends them")
	path, code, ok := parseClientFlags(fs, args, stderr)
	if !ok {
		return code
	}
	start := time.Now()
	enc := json.NewEncoder(stdout)
	final, err := control.NewClient(path).Upgrade(context.Background(), func(ev control.Event) {
		if *asJSON {
			enc.Encode(ev)
			return
		}
		fmt.Fprintf(stdout, "%6.3fs %-11s %s\n", time.Since(start).Seconds(), ev.Stage, ev.Message)
	})
	if err != nil {
		fmt.Fprintln(stderr, "handoff upgrade:", err)
		if final.Stage == "" && (errors.Is(err, control.ErrUntrusted) || !isReachable(path)) {
			return exitUsage
		}
		return control.ExitUnknown
	}
	return control.ExitCodeOf(final)
}

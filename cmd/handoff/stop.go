//go:build !windows

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func init() {
	register(&command{
		Name:    "stop",
		Summary: "drain a supervisor's workers and make it exit",
		Run:     stopCmd,
	})
}

func stopCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("stop", "stop [--control SOCK] [--wait DURATION]", stderr)
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the supervisor to exit (0: do not wait)")
	path, code, ok := parseClientFlags(fs, args, stderr)
	if !ok {
		return code
	}
	ev, err := control.NewClient(path).Stop(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "handoff stop:", err)
		return exitUsage
	}
	fmt.Fprintln(stdout, ev.Message)
	if *wait <= 0 {
		return exitOK
	}
	// The supervisor closes its control socket last, once every worker has
	// exited: that is the moment it is stopped.
	deadline := time.Now().Add(*wait)
	for isReachable(path) {
		if time.Now().After(deadline) {
			fmt.Fprintf(stderr, "handoff stop: still running after %v\n", *wait)
			return exitFail
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintln(stdout, "stopped")
	return exitOK
}

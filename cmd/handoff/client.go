//go:build !windows

package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/handoff-go/handoff/internal/control"
)

// parseClientFlags adds --control to fs, the flag every client command
// (upgrade, status, stop) shares, parses args and resolves the socket.
func parseClientFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (path string, code int, ok bool) {
	ctl := fs.String("control", "", "the supervisor's control socket (default: the only one in "+control.Dir()+")")
	if code, ok := parseFlags(fs, args); !ok {
		return "", code, false
	}
	path, ok = controlPath(*ctl, stderr)
	if !ok {
		return "", exitUsage, false
	}
	return path, 0, true
}

// controlPath resolves --control for the client commands: the flag, or
// the only supervisor in the default directory.
func controlPath(flagValue string, stderr io.Writer) (string, bool) {
	if flagValue != "" {
		return flagValue, true
	}
	p, err := control.Find()
	if err != nil {
		fmt.Fprintln(stderr, "handoff:", err)
		return "", false
	}
	return p, true
}

//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

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

// streamCmd runs a client command whose answer is a stream of upgrade
// events (upgrade, reload): it prints each event (or its JSON with
// --json) and exits with the outcome's code. A supervisor that cannot be
// reached, or a socket the client does not trust, is a usage error (2);
// a connection that broke before the outcome is ExitUnknown (4).
func streamCmd(name, synopsis string, call streamCall, args []string, stdout, stderr io.Writer) int {
	fs := newFlags(name, synopsis, stderr)
	return streamOn(fs, name, func() streamCall { return call }, args, stdout, stderr)
}

// streamCall is a client method that follows an event stream.
type streamCall = func(*control.Client, context.Context, func(control.Event)) (control.Event, error)

// streamOn is streamCmd on a flag set the command made (with flags of its
// own); pick chooses the call once the flags are parsed.
func streamOn(fs *flag.FlagSet, name string, pick func() streamCall, args []string, stdout, stderr io.Writer) int {
	asJSON := fs.Bool("json", false, "print the events as JSON lines, as the supervisor sends them")
	path, code, ok := parseClientFlags(fs, args, stderr)
	if !ok {
		return code
	}
	final, err := pick()(control.NewClient(path), context.Background(), printEvents(stdout, *asJSON))
	if err != nil {
		fmt.Fprintln(stderr, "handoff "+name+":", err)
		if final.Stage == "" && (errors.Is(err, control.ErrUntrusted) || !isReachable(path)) {
			return exitUsage
		}
		return control.ExitUnknown
	}
	return control.ExitCodeOf(final)
}

// printEvents prints each event as it arrives: its stage and message, or
// its JSON.
func printEvents(stdout io.Writer, asJSON bool) func(control.Event) {
	start := time.Now()
	enc := json.NewEncoder(stdout)
	return func(ev control.Event) {
		if asJSON {
			enc.Encode(ev)
			return
		}
		fmt.Fprintf(stdout, "%6.3fs %-11s %s\n", time.Since(start).Seconds(), ev.Stage, ev.Message)
	}
}

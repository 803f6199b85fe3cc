package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/handoff-go/handoff/internal/control"
)

// command is one subcommand. Files register theirs from init, so adding a
// subcommand (demo.go, bench.go) never edits main.go; usage text is built
// from this table.
type command struct {
	Name    string
	Summary string // one line, for `handoff help`
	// Run runs the command with the arguments after its name and returns
	// the exit status.
	Run func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]*command{}

// register adds c to the table; a duplicate name is a programming error
// caught by the first run of any test.
func register(c *command) {
	if _, dup := commands[c.Name]; dup {
		panic("handoff: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// Exit statuses shared by the subcommands.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = control.ExitUsage // bad flags, unusable configuration
)

// newFlags returns a flag set that reports errors instead of exiting, with
// a usage line for the command.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: handoff %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps failures to an exit status: -h is a
// success, anything else a usage error.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
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

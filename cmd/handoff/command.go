package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/handoff-go/handoff/internal/bench"
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
	exitUsage = bench.ExitUsage // bad flags, unusable configuration (control.ExitUsage)
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

// usageError reports a bad flag of command name and returns exitUsage.
func usageError(stderr io.Writer, name, format string, a ...any) int {
	fmt.Fprintf(stderr, "handoff "+name+": "+format+"\n", a...)
	return exitUsage
}

// untilInterrupted runs run with a context that Ctrl-C (SIGINT) and SIGTERM
// cancel, and returns its exit status.
func untilInterrupted(run func(ctx context.Context) int) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx)
}

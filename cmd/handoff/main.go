// Command handoff runs programs in any language with zero-downtime
// upgrades under a stable PID, and drives the supervisor that does it.
//
//	handoff run [flags] -- PROGRAM [ARGS...]   supervise PROGRAM
//	handoff upgrade [--control SOCK]           upgrade it, printing each stage
//	handoff status  [--control SOCK] [--json]  show generations and workers
//	handoff stop    [--control SOCK]           drain and exit
//
// Run `handoff help COMMAND` for a command's flags. Subcommands register
// themselves in the commands table (see command.go), so a new file adds a
// subcommand without touching this one.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/handoff-go/handoff/internal/supervisor"
)

// The main goroutine runs on the main thread for good: `handoff run` lends
// it to the supervisor, which forks every worker and execs a self-upgrade
// from it (internal/supervisor/mainthread.go).
func init() { runtime.LockOSThread() }

func main() {
	runShim()
	if len(os.Args) > 1 && os.Args[1] == "run" {
		os.Exit(supervisor.WithMainThread(func() int { return dispatch(os.Args[1:], os.Stdout, os.Stderr) }))
	}
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.Run([]string{"-h"}, stdout, stderr)
			}
		}
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		c, ok = hiddenCommands[name] // not in the usage (state_version.go)
	}
	if !ok {
		fmt.Fprintf(stderr, "handoff: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	return c.Run(args[1:], stdout, stderr)
}

// usage is generated from the commands table.
func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("handoff: zero-downtime restarts and upgrades, under a stable PID\n\nUsage:\n\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  handoff %-*s  %s\n", width, n, commands[n].Summary)
	}
	b.WriteString("\nRun 'handoff help COMMAND' for a command's flags.\n")
	io.WriteString(w, b.String())
}

package main

import (
	"context"
	"io"
	"time"

	"github.com/handoff-go/handoff/internal/demo"
	"github.com/handoff-go/handoff/internal/loadgen"
)

func init() {
	register(&command{
		Name:    "demo",
		Summary: "upgrade examples/hello live under load, and show that no request fails",
		Run:     demoCmd,
	})
}

const demoSynopsis = `demo [-upgrades N] [-every D] [-clients C] [-mode supervisor|self|naive] [-json FILE]

Builds examples/hello (and handoff itself) from this module into a temporary
directory, starts hello on a free loopback port, drives load at it (half the
clients on keep-alive connections, half on a new connection per request, a
few slow requests always in flight, POSTs, no retries) and upgrades it live,
printing one line per upgrade and a report at the end.

Modes: supervisor (default) runs hello under 'handoff run' and upgrades it
through the control socket, as 'handoff upgrade' does; self uses the
library's own upgrade (SIGHUP to hello; the pid changes); naive stops hello
(SIGTERM, a graceful drain) and starts it again: the usual restart, shown
for comparison: it fails requests, and that is the point.

Run it from a clone of the repository (it builds with 'go build'), or pass
-bin DIR holding prebuilt handoff and hello binaries.

Exit status: 0 when no request failed and every upgrade succeeded; 1
otherwise (naive mode usually); 2 for bad flags or when it cannot build or
start; 130 when interrupted.`

// demoFlags are the parsed flags of `handoff demo`.
type demoFlags demo.Options

func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, int, bool) {
	fs := newFlags("demo", demoSynopsis, stderr)
	var f demoFlags
	fs.IntVar(&f.Upgrades, "upgrades", 10, "number of live upgrades")
	fs.DurationVar(&f.Every, "every", time.Second, "interval between upgrades")
	fs.IntVar(&f.Clients, "clients", loadgen.DefaultClients, "concurrent clients, half keep-alive, half a new connection per request")
	fs.StringVar(&f.Mode, "mode", "supervisor", "supervisor (handoff run), self (the library's SIGHUP upgrade) or naive (stop, then start)")
	fs.StringVar(&f.JSONPath, "json", "", "also write the report as JSON to this file")
	fs.Float64Var(&f.SlowFraction, "slow-fraction", 0.02, "fraction of requests to /slow?ms=200, in flight across upgrades")
	fs.StringVar(&f.Bin, "bin", "", "use the handoff and hello binaries in this directory instead of building them")
	fs.BoolVar(&f.Verbose, "v", false, "show what the supervisor and hello write")
	if code, ok := parseFlags(fs, args); !ok {
		return nil, code, false
	}
	switch {
	case fs.NArg() > 0:
		return nil, usageError(stderr, "demo", "unexpected arguments %q", fs.Args()), false
	case f.Mode != demo.ModeSupervisor && f.Mode != demo.ModeSelf && f.Mode != demo.ModeNaive:
		return nil, usageError(stderr, "demo", "-mode %q: want supervisor, self or naive", f.Mode), false
	case f.Upgrades < 0 || f.Clients < 1 || f.Every <= 0:
		return nil, usageError(stderr, "demo", "-upgrades must not be negative, -clients and -every must be positive"), false
	case !(f.SlowFraction >= 0 && f.SlowFraction <= 1):
		return nil, usageError(stderr, "demo", "-slow-fraction %v: want 0..1", f.SlowFraction), false
	}
	return &f, 0, true
}

func demoCmd(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseDemoFlags(args, stderr)
	if !ok {
		return code
	}
	// The demo stops every process it started before it returns, on
	// Ctrl-C too.
	return untilInterrupted(func(ctx context.Context) int { return demo.Run(ctx, demo.Options(*f), stdout, stderr) })
}

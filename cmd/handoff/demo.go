package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

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
type demoFlags struct {
	upgrades     int
	every        time.Duration
	clients      int
	mode         string
	jsonPath     string
	slowFraction float64
	bin          string
	verbose      bool
}

func parseDemoFlags(args []string, stderr io.Writer) (*demoFlags, int, bool) {
	fs := newFlags("demo", demoSynopsis, stderr)
	var f demoFlags
	fs.IntVar(&f.upgrades, "upgrades", 10, "number of live upgrades")
	fs.DurationVar(&f.every, "every", time.Second, "interval between upgrades")
	fs.IntVar(&f.clients, "clients", loadgen.DefaultClients, "concurrent clients, half keep-alive, half a new connection per request")
	fs.StringVar(&f.mode, "mode", "supervisor", "supervisor (handoff run), self (the library's SIGHUP upgrade) or naive (stop, then start)")
	fs.StringVar(&f.jsonPath, "json", "", "also write the report as JSON to this file")
	fs.Float64Var(&f.slowFraction, "slow-fraction", 0.02, "fraction of requests to /slow?ms=200, in flight across upgrades")
	fs.StringVar(&f.bin, "bin", "", "use the handoff and hello binaries in this directory instead of building them")
	fs.BoolVar(&f.verbose, "v", false, "show what the supervisor and hello write")
	if code, ok := parseFlags(fs, args); !ok {
		return nil, code, false
	}
	bad := func(format string, a ...any) (*demoFlags, int, bool) {
		fmt.Fprintf(stderr, "handoff demo: "+format+"\n", a...)
		return nil, exitUsage, false
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected arguments %q", fs.Args())
	case f.mode != "supervisor" && f.mode != "self" && f.mode != "naive":
		return bad("-mode %q: want supervisor, self or naive", f.mode)
	case f.upgrades < 0 || f.clients < 1 || f.every <= 0:
		return bad("-upgrades must not be negative, -clients and -every must be positive")
	case !(f.slowFraction >= 0 && f.slowFraction <= 1):
		return bad("-slow-fraction %v: want 0..1", f.slowFraction)
	}
	return &f, 0, true
}

func demoCmd(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseDemoFlags(args, stderr)
	if !ok {
		return code
	}
	// Ctrl-C cancels the run; every process is then stopped by the
	// deferred cleanup below, before the command returns.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	out := &lockedWriter{w: stdout}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "handoff demo: "+format+"\n", a...)
		if ctx.Err() != nil {
			return 130
		}
		return exitUsage
	}

	dir, err := os.MkdirTemp("", "handoff-demo-*")
	if err != nil {
		return fail("temporary directory: %v", err)
	}
	defer os.RemoveAll(dir)
	bin := f.bin
	if bin == "" {
		bin = dir
		pkgs := []string{"./examples/hello"}
		if f.mode == "supervisor" {
			pkgs = append(pkgs, "./cmd/handoff")
		}
		t0 := time.Now()
		fmt.Fprintf(out, "handoff demo: building %v into %s\n", pkgs, dir)
		if err := buildDemo(dir, pkgs...); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(out, "handoff demo: built in %s\n", time.Since(t0).Round(time.Millisecond))
	}
	addr, err := freeLoopback()
	if err != nil {
		return fail("%v", err)
	}
	var childOut io.Writer = stderr
	tail := &tailBuffer{max: 8 << 10}
	if !f.verbose {
		childOut = tail
	}
	env := &demoEnv{dir: dir, bin: bin, addr: addr, probation: f.every / 2, out: childOut, procs: newProcSet(bin)}
	var target demoTarget
	switch f.mode {
	case "supervisor":
		target = newSupervisorTarget(env)
	case "self":
		target = newSelfTarget(env)
	default:
		target = newNaiveTarget(env)
	}
	stopped := false
	stopTarget := func() {
		if !stopped {
			stopped = true
			target.stop()
		}
	}
	defer stopTarget()

	pid, err := target.start(ctx)
	if err != nil {
		return fail("start hello (%s mode): %v\n%s", f.mode, err, tail.String())
	}
	fmt.Fprintf(out, "handoff demo: %s mode: hello serves on http://%s, pid %d\n", f.mode, addr, pid)
	fmt.Fprintf(out, "handoff demo: %d clients (half keep-alive, half a new connection per request), POST, %.0f%% to /slow?ms=200, no retries; %d upgrades, one every %s\n",
		f.clients, f.slowFraction*100, f.upgrades, f.every)

	steps := make([]demoStep, f.upgrades)
	var lastServed int64
	cfg := loadgen.Config{
		URL:          "http://" + addr + "/",
		Mode:         loadgen.ModeMixed,
		Clients:      f.clients,
		SlowPath:     "/slow?ms=200",
		SlowFraction: f.slowFraction,
		Upgrades:     f.upgrades,
		Every:        f.every,
		Settle:       settleFor(f.every),
		OnUpgrade: func(d loadgen.UpgradeDone) {
			io.WriteString(out, demoLine(d, steps[d.Index], f.upgrades, d.Snapshot.Requests-lastServed))
			lastServed = d.Snapshot.Requests
		},
	}
	upgrade := func(ctx context.Context, i int) (loadgen.UpgradeResult, error) {
		st, err := target.upgrade(ctx)
		steps[i] = st
		return loadgen.UpgradeResult{OldPID: st.oldPID, NewPID: st.newPID, Note: "generation " + strconv.Itoa(st.generation)}, err
	}
	rep, runErr := loadgen.RunWithUpgrades(ctx, cfg, upgrade)
	if rep == nil {
		return fail("%v", runErr)
	}
	// Stop before the report, so that it ends the output and no process
	// outlives a reader who stops reading there.
	stopTarget()

	res := judge(rep, false, false)
	res.Demo = &demoInfo{Mode: f.mode, TimeToReady: []loadgen.Duration{}}
	for i := range rep.Upgrades {
		if steps[i].ready > 0 {
			res.Demo.TimeToReady = append(res.Demo.TimeToReady, loadgen.Duration(steps[i].ready))
		}
	}
	io.WriteString(out, "\n")
	rep.WriteTable(out)
	res.writeSummary(out, "demo")
	if !res.Pass {
		if s := tail.String(); s != "" && !f.verbose {
			fmt.Fprintf(out, "\nlast output of the processes:\n%s", s)
		}
	}
	if f.mode == "naive" {
		if res.Failures > 0 {
			fmt.Fprintf(out, "\nThis is the expected point of the comparison: a stop-and-start restart failed %d requests (%.0f per million):\nrefused while no process listened, reset when the old process closed connections still in its accept queue.\nRun 'handoff demo' (supervisor) or 'handoff demo -mode self' to see the same load and upgrades fail none.\n",
				res.Failures, res.FailuresPerMillion)
		} else {
			fmt.Fprintf(out, "\nThe naive restart got lucky this time (no client hit the gap); run it again, or with more -clients.\n")
		}
	}
	return res.exitStatus(ctx, "demo", f.jsonPath, stdout, stderr)
}

// demoLine is the progress line printed after each upgrade.
func demoLine(d loadgen.UpgradeDone, st demoStep, total int, served int64) string {
	if d.Err != nil {
		return fmt.Sprintf("upgrade %2d/%d FAILED: %v (%d requests served meanwhile, %d failed so far)\n",
			d.Index+1, total, d.Err, served, d.Snapshot.Failures)
	}
	return fmt.Sprintf("upgrade %2d/%d  generation %d  pid %d  ready in %s  %d requests served meanwhile  %d failed so far\n",
		d.Index+1, total, st.generation, st.newPID, loadgen.Duration(st.ready), served, d.Snapshot.Failures)
}

// freeLoopback asks the kernel for a free port on 127.0.0.1. The port is
// free when this returns; something else could take it before hello binds
// it, which then fails loudly.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

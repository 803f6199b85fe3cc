// Package demo is the driver behind `handoff demo`: it upgrades
// examples/hello live under load, in one of three ways (the supervisor, the
// library's self-upgrade, a naive stop and start, see target.go), and
// reports every failed request with the judgement of internal/bench.
//
// Flag parsing is the command's (cmd/handoff); this package takes parsed
// Options and returns the command's exit status. It owns every process it
// starts and stops each by pid, on every path.
package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/handoff-go/handoff/internal/bench"
	"github.com/handoff-go/handoff/internal/loadgen"
)

// Modes of the demo: the supervisor, the library's self-upgrade, a naive
// stop and start.
const (
	ModeSupervisor = "supervisor"
	ModeSelf       = "self"
	ModeNaive      = "naive"
)

// Options are the parsed flags of `handoff demo`.
type Options struct {
	Upgrades     int           // live upgrades to make
	Every        time.Duration // interval between them
	Clients      int           // concurrent clients, half keep-alive
	Mode         string        // ModeSupervisor, ModeSelf or ModeNaive
	JSONPath     string        // also write the report as JSON here
	SlowFraction float64       // fraction of requests to /slow?ms=200
	Bin          string        // directory of prebuilt handoff and hello; "" builds them
	Verbose      bool          // show what the supervisor and hello write
}

// Run builds (unless opt.Bin names prebuilt binaries) and starts
// examples/hello in opt.Mode, drives load at it and upgrades it
// opt.Upgrades times, printing a line per upgrade, the report's table and
// the verdict to stdout; the children's output goes to stderr with
// opt.Verbose, else only their last lines, when the run fails. Every process
// it started is stopped before it returns, on every path. It returns the
// exit status: bench.ExitOK when no request and no upgrade failed,
// bench.ExitFail otherwise, bench.ExitUsage when it cannot build or start,
// bench.ExitInterrupted when ctx is cancelled.
func Run(ctx context.Context, opt Options, stdout, stderr io.Writer) int {
	f := &opt
	out := &bench.LockedWriter{W: stdout}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "handoff demo: "+format+"\n", a...)
		if ctx.Err() != nil {
			return bench.ExitInterrupted
		}
		return bench.ExitUsage
	}

	dir, err := os.MkdirTemp("", "handoff-demo-*")
	if err != nil {
		return fail("temporary directory: %v", err)
	}
	defer os.RemoveAll(dir)
	bin := f.Bin
	if bin == "" {
		bin = dir
		pkgs := []string{"./examples/hello"}
		if f.Mode == ModeSupervisor {
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
	if !f.Verbose {
		childOut = tail
	}
	env := &demoEnv{dir: dir, bin: bin, addr: addr, probation: f.Every / 2, out: childOut, procs: newProcSet(bin)}
	var target demoTarget
	switch f.Mode {
	case ModeSupervisor:
		target = newSupervisorTarget(env)
	case ModeSelf:
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
		return fail("start hello (%s mode): %v\n%s", f.Mode, err, tail.String())
	}
	fmt.Fprintf(out, "handoff demo: %s mode: hello serves on http://%s, pid %d\n", f.Mode, addr, pid)
	fmt.Fprintf(out, "handoff demo: %d clients (half keep-alive, half a new connection per request), POST, %.0f%% to /slow?ms=200, no retries; %d upgrades, one every %s\n",
		f.Clients, f.SlowFraction*100, f.Upgrades, f.Every)

	steps := make([]demoStep, f.Upgrades)
	var lastServed int64
	cfg := loadgen.Config{
		URL:          "http://" + addr + "/",
		Mode:         loadgen.ModeMixed,
		Clients:      f.Clients,
		SlowPath:     "/slow?ms=200",
		SlowFraction: f.SlowFraction,
		Upgrades:     f.Upgrades,
		Every:        f.Every,
		Settle:       bench.SettleFor(f.Every),
		OnUpgrade: func(d loadgen.UpgradeDone) {
			io.WriteString(out, demoLine(d, steps[d.Index], f.Upgrades, d.Snapshot.Requests-lastServed))
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

	res := bench.Judge(rep, false, false)
	res.Demo = &bench.DemoInfo{Mode: f.Mode, TimeToReady: []loadgen.Duration{}}
	for i := range rep.Upgrades {
		if steps[i].ready > 0 {
			res.Demo.TimeToReady = append(res.Demo.TimeToReady, loadgen.Duration(steps[i].ready))
		}
	}
	io.WriteString(out, "\n")
	rep.WriteTable(out)
	res.WriteSummary(out, "demo")
	if !res.Pass {
		if s := tail.String(); s != "" && !f.Verbose {
			fmt.Fprintf(out, "\nlast output of the processes:\n%s", s)
		}
	}
	if f.Mode == ModeNaive {
		if res.Failures > 0 {
			fmt.Fprintf(out, "\nThis is the expected point of the comparison: a stop-and-start restart failed %d requests (%.0f per million):\nrefused while no process listened, reset when the old process closed connections still in its accept queue.\nRun 'handoff demo' (supervisor) or 'handoff demo -mode self' to see the same load and upgrades fail none.\n",
				res.Failures, res.FailuresPerMillion)
		} else {
			fmt.Fprintf(out, "\nThe naive restart got lucky this time (no client hit the gap); run it again, or with more -clients.\n")
		}
	}
	return res.ExitStatus(ctx, "demo", f.JSONPath, stdout, stderr)
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

// Package bench is the driver behind `handoff bench`: it drives load at a
// server while an upgrade command runs, judges the load generator's report
// (a failed request, a failed upgrade, an upgrade that produced no new
// generation, a cut held connection) and prints and writes the result.
// `handoff demo` reuses the judgement and the report (see internal/demo).
//
// Flag parsing is the command's (cmd/handoff); this package takes parsed
// Options and returns the command's exit status.
package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/handoff-go/handoff/internal/loadgen"
)

// Options are the parsed flags of `handoff bench`.
type Options struct {
	// Config is the load; its Settle, Progress, OnUpgrade and Cooldown are
	// set by Run.
	Config loadgen.Config
	// UpgradeCmd is run through `sh -c` for each upgrade.
	UpgradeCmd string
	// UpgradeTimeout kills an upgrade command that runs longer (and counts
	// the upgrade as failed).
	UpgradeTimeout time.Duration
	// Duration is how long a run without upgrades lasts, and the least a
	// run with upgrades lasts.
	Duration time.Duration
	// JSONPath, when set, receives the report as JSON ("-": stdout, the
	// table then goes to stderr).
	JSONPath     string
	AllowCuts    bool // cut held connections do not fail the run
	AllowSamePID bool // an upgrade that leaves the same pid serving does not fail the run
	Quiet        bool // no progress line every second
}

// Run drives the load of opt until it is done or ctx is cancelled, printing
// a line per upgrade, the report's table and the verdict to stdout, and
// returns the exit status: ExitOK when nothing failed, ExitFail otherwise,
// ExitUsage when the load could not start, ExitInterrupted when ctx was
// cancelled.
func Run(ctx context.Context, opt Options, stdout, stderr io.Writer) int {
	out := &LockedWriter{W: stdout}
	if opt.JSONPath == "-" {
		out = &LockedWriter{W: stderr}
	}
	progress := &LockedWriter{W: stderr}

	cfg := opt.Config
	cfg.Settle = SettleFor(cfg.Every)
	if !opt.Quiet {
		cfg.Progress = func(s loadgen.Snapshot) { io.WriteString(progress, progressLine(s, cfg.Upgrades)) }
	}
	var lastServed int64
	cfg.OnUpgrade = func(d loadgen.UpgradeDone) {
		io.WriteString(out, upgradeLine(d, cfg.Upgrades, d.Snapshot.Requests-lastServed))
		lastServed = d.Snapshot.Requests
	}
	if cfg.Upgrades > 0 {
		fmt.Fprintf(out, "handoff bench: %s, %d upgrades every %s: %s\n", cfg.URL, cfg.Upgrades, cfg.Every, opt.UpgradeCmd)
	} else {
		fmt.Fprintf(out, "handoff bench: %s, no upgrades, %s\n", cfg.URL, opt.Duration)
	}

	var rep *loadgen.Report
	var err error
	if cfg.Upgrades == 0 {
		rep, err = runPlain(ctx, cfg, opt.Duration)
	} else {
		// Stretch the load after the last upgrade so that the run lasts at
		// least opt.Duration.
		planned := cfg.Warmup + time.Duration(cfg.Upgrades-1)*cfg.Every
		cfg.Cooldown = max(cfg.Settle+cfg.Warmup, opt.Duration-planned)
		rep, err = loadgen.RunWithUpgrades(ctx, cfg, shellUpgrade(opt.UpgradeCmd, opt.UpgradeTimeout, out))
	}
	if rep == nil {
		fmt.Fprintln(stderr, "handoff bench:", err)
		return ExitUsage
	}
	res := Judge(rep, opt.AllowCuts, opt.AllowSamePID)
	io.WriteString(out, "\n")
	rep.WriteTable(out)
	res.WriteSummary(out, "bench")
	return res.ExitStatus(ctx, "bench", opt.JSONPath, stdout, stderr)
}

// runPlain runs load without upgrades for d: the throughput measurement.
func runPlain(ctx context.Context, cfg loadgen.Config, d time.Duration) (*loadgen.Report, error) {
	g, err := loadgen.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := g.Start(ctx); err != nil {
		return nil, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	rep := g.Stop()
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

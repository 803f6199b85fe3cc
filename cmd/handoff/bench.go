package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/handoff-go/handoff/internal/loadgen"
)

func init() {
	register(&command{
		Name:    "bench",
		Summary: "drive load at any server while an upgrade command runs, and count every failed request",
		Run:     benchCmd,
	})
}

const benchSynopsis = `bench --url URL --upgrade-cmd CMD [flags]

Drives HTTP/1.1 load at URL (clients that never retry: every failure is
counted) and runs CMD through 'sh -c' --upgrades times, every --every, with
HANDOFF_BENCH_UPGRADE set to the upgrade's number. CMD is anything that
upgrades the server: 'kill -HUP $(cat app.pid)', 'systemctl reload app',
nginx's USR2 procedure, 'handoff upgrade --control SOCK'. Its output is shown;
a non-zero exit is an upgrade error.

Each request is classified (ok, bad_status, refused, reset, eof, timeout,
mismatched, duplicate); the pid that served it is read from an X-Pid header
or the body's first line; each carries a unique X-Request-Id, so a server that
echoes it is checked for requests answered twice. The report gives failures
per million requests per upgrade, latency in and out of upgrade windows, and
the time from each trigger to the first answer from a new pid and to the last
answer from an old one. With --upgrades 0 it measures plain throughput for
--duration.

Exit status: 0 when nothing failed: no failed request, no failed upgrade,
every upgrade produced a new pid (unless --allow-same-pid; not checkable
when the server names no pid) and, with held connections, none was cut
(unless --allow-cuts); 1 otherwise; 2 for bad flags; 130 when interrupted.`

// benchFlags are the parsed flags of `handoff bench`.
type benchFlags struct {
	cfg          loadgen.Config
	upgradeCmd   string
	upgradeTO    time.Duration
	duration     time.Duration
	jsonPath     string
	allowCuts    bool
	allowSamePID bool
	quiet        bool
}

func parseBenchFlags(args []string, stderr io.Writer) (*benchFlags, int, bool) {
	fs := newFlags("bench", benchSynopsis, stderr)
	var f benchFlags
	fs.StringVar(&f.cfg.URL, "url", "", "the server, http://HOST:PORT[/PATH] (required)")
	fs.StringVar(&f.upgradeCmd, "upgrade-cmd", "", "shell command that upgrades the server (required with --upgrades > 0)")
	fs.IntVar(&f.cfg.Upgrades, "upgrades", 10, "number of upgrades (0: measure throughput only)")
	fs.DurationVar(&f.cfg.Every, "every", loadgen.DefaultEvery, "interval between upgrade triggers (the next waits for the previous command to exit)")
	fs.IntVar(&f.cfg.Clients, "clients", loadgen.DefaultClients, "concurrent clients, each one request at a time, back to back")
	mode := fs.String("mode", "mixed", "keepalive (reuse one connection), close (a new connection per request), mixed (half each) or hold (idle keep-alive connections only)")
	fs.StringVar(&f.cfg.Path, "path", "", "request path, overriding the URL's")
	fs.StringVar(&f.cfg.Method, "method", loadgen.DefaultMethod, "request method (POST: no real client retries it on its own)")
	fs.StringVar(&f.cfg.SlowPath, "slow-path", "", "path of slow requests, e.g. /slow?ms=200, so that some are in flight at each upgrade")
	fs.Float64Var(&f.cfg.SlowFraction, "slow-fraction", 0, "fraction of requests sent to --slow-path (0..1)")
	fs.IntVar(&f.cfg.HoldConns, "hold", 0, "idle keep-alive connections to hold open (default 100 in hold mode)")
	fs.DurationVar(&f.cfg.HoldInterval, "hold-every", loadgen.DefaultHoldInterval, "interval between two requests on a held connection")
	fs.DurationVar(&f.cfg.Timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout, connect included")
	fs.DurationVar(&f.cfg.Warmup, "warmup", loadgen.DefaultWarmup, "load before the first upgrade")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "with --upgrades 0, how long to run; otherwise the least the whole run lasts (the load after the last upgrade is extended)")
	fs.DurationVar(&f.upgradeTO, "upgrade-timeout", 2*time.Minute, "kill the upgrade command (and count the upgrade as failed) after this")
	fs.StringVar(&f.jsonPath, "json", "", "also write the report as JSON to this file (- for stdout; the table then goes to stderr)")
	fs.BoolVar(&f.allowCuts, "allow-cuts", false, "do not fail when the server cuts held keep-alive connections (a real client only reconnects)")
	fs.BoolVar(&f.allowSamePID, "allow-same-pid", false, "do not fail when no new pid answers after an upgrade (servers that reload in place)")
	fs.BoolVar(&f.quiet, "q", false, "no progress line every second")
	if code, ok := parseFlags(fs, args); !ok {
		return nil, code, false
	}
	usage := func(format string, a ...any) (*benchFlags, int, bool) {
		fmt.Fprintf(stderr, "handoff bench: "+format+"\n", a...)
		return nil, exitUsage, false
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments %q", fs.Args())
	}
	if f.cfg.URL == "" {
		return usage("--url is required")
	}
	if f.cfg.Upgrades > 0 && f.upgradeCmd == "" {
		return usage("--upgrade-cmd is required with --upgrades %d (use --upgrades 0 to measure throughput only)", f.cfg.Upgrades)
	}
	if f.cfg.Every <= 0 || f.duration <= 0 || f.upgradeTO <= 0 {
		return usage("--every, --duration and --upgrade-timeout must be positive")
	}
	var err error
	if f.cfg.Mode, err = loadgen.ParseMode(*mode); err != nil {
		return usage("--mode: %v", err)
	}
	f.cfg.Settle = settleFor(f.cfg.Every)
	// Validate everything else (URL, counts, fractions) the way the load
	// generator will, so that a bad flag is a usage error, not a failed run.
	if _, err := loadgen.New(f.cfg); err != nil {
		return usage("%v", err)
	}
	return &f, 0, true
}

func benchCmd(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseBenchFlags(args, stderr)
	if !ok {
		return code
	}
	out := &lockedWriter{w: stdout}
	if f.jsonPath == "-" {
		out = &lockedWriter{w: stderr}
	}
	progress := &lockedWriter{w: stderr}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := f.cfg
	if !f.quiet {
		cfg.Progress = func(s loadgen.Snapshot) { io.WriteString(progress, progressLine(s, cfg.Upgrades)) }
	}
	var lastServed int64
	cfg.OnUpgrade = func(d loadgen.UpgradeDone) {
		io.WriteString(out, upgradeLine(d, cfg.Upgrades, d.Snapshot.Requests-lastServed))
		lastServed = d.Snapshot.Requests
	}
	if cfg.Upgrades > 0 {
		fmt.Fprintf(out, "handoff bench: %s, %d upgrades every %s: %s\n", cfg.URL, cfg.Upgrades, cfg.Every, f.upgradeCmd)
	} else {
		fmt.Fprintf(out, "handoff bench: %s, no upgrades, %s\n", cfg.URL, f.duration)
	}

	var rep *loadgen.Report
	var err error
	if cfg.Upgrades == 0 {
		rep, err = runPlain(ctx, cfg, f.duration)
	} else {
		// Stretch the load after the last upgrade so that the run lasts at
		// least --duration.
		planned := cfg.Warmup + time.Duration(cfg.Upgrades-1)*cfg.Every
		cfg.Cooldown = max(cfg.Settle+cfg.Warmup, f.duration-planned)
		rep, err = loadgen.RunWithUpgrades(ctx, cfg, shellUpgrade(f.upgradeCmd, f.upgradeTO, out))
	}
	if rep == nil {
		fmt.Fprintln(stderr, "handoff bench:", err)
		return exitUsage
	}
	res := judge(rep, f.allowCuts, f.allowSamePID)
	io.WriteString(out, "\n")
	rep.WriteTable(out)
	res.writeSummary(out, "bench")
	return res.exitStatus(ctx, "bench", f.jsonPath, stdout, stderr)
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

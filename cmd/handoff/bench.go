package main

import (
	"context"
	"io"
	"time"

	"github.com/handoff-go/handoff/internal/bench"
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
type benchFlags bench.Options

func parseBenchFlags(args []string, stderr io.Writer) (*benchFlags, int, bool) {
	fs := newFlags("bench", benchSynopsis, stderr)
	var f benchFlags
	fs.StringVar(&f.Config.URL, "url", "", "the server, http://HOST:PORT[/PATH] (required)")
	fs.StringVar(&f.UpgradeCmd, "upgrade-cmd", "", "shell command that upgrades the server (required with --upgrades > 0)")
	fs.IntVar(&f.Config.Upgrades, "upgrades", 10, "number of upgrades (0: measure throughput only)")
	fs.DurationVar(&f.Config.Every, "every", loadgen.DefaultEvery, "interval between upgrade triggers (the next waits for the previous command to exit)")
	fs.IntVar(&f.Config.Clients, "clients", loadgen.DefaultClients, "concurrent clients, each one request at a time, back to back")
	mode := fs.String("mode", "mixed", "keepalive (reuse one connection), close (a new connection per request), mixed (half each) or hold (idle keep-alive connections only)")
	fs.StringVar(&f.Config.Path, "path", "", "request path, overriding the URL's")
	fs.StringVar(&f.Config.Method, "method", loadgen.DefaultMethod, "request method (POST: no real client retries it on its own)")
	fs.StringVar(&f.Config.SlowPath, "slow-path", "", "path of slow requests, e.g. /slow?ms=200, so that some are in flight at each upgrade")
	fs.Float64Var(&f.Config.SlowFraction, "slow-fraction", 0, "fraction of requests sent to --slow-path (0..1)")
	fs.IntVar(&f.Config.HoldConns, "hold", 0, "idle keep-alive connections to hold open (default 100 in hold mode)")
	fs.DurationVar(&f.Config.HoldInterval, "hold-every", loadgen.DefaultHoldInterval, "interval between two requests on a held connection")
	fs.DurationVar(&f.Config.Timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout, connect included")
	fs.DurationVar(&f.Config.Warmup, "warmup", loadgen.DefaultWarmup, "load before the first upgrade")
	fs.DurationVar(&f.Duration, "duration", 10*time.Second, "with --upgrades 0, how long to run; otherwise the least the whole run lasts (the load after the last upgrade is extended)")
	fs.DurationVar(&f.UpgradeTimeout, "upgrade-timeout", 2*time.Minute, "kill the upgrade command (and count the upgrade as failed) after this")
	fs.StringVar(&f.JSONPath, "json", "", "also write the report as JSON to this file (- for stdout; the table then goes to stderr)")
	fs.BoolVar(&f.AllowCuts, "allow-cuts", false, "do not fail when the server cuts held keep-alive connections (a real client only reconnects)")
	fs.BoolVar(&f.AllowSamePID, "allow-same-pid", false, "do not fail when no new pid answers after an upgrade (servers that reload in place)")
	fs.BoolVar(&f.Quiet, "q", false, "no progress line every second")
	if code, ok := parseFlags(fs, args); !ok {
		return nil, code, false
	}
	if fs.NArg() > 0 {
		return nil, usageError(stderr, "bench", "unexpected arguments %q", fs.Args()), false
	}
	if f.Config.URL == "" {
		return nil, usageError(stderr, "bench", "--url is required"), false
	}
	if f.Config.Upgrades > 0 && f.UpgradeCmd == "" {
		return nil, usageError(stderr, "bench", "--upgrade-cmd is required with --upgrades %d (use --upgrades 0 to measure throughput only)", f.Config.Upgrades), false
	}
	if f.Config.Every <= 0 || f.Duration <= 0 || f.UpgradeTimeout <= 0 {
		return nil, usageError(stderr, "bench", "--every, --duration and --upgrade-timeout must be positive"), false
	}
	var err error
	if f.Config.Mode, err = loadgen.ParseMode(*mode); err != nil {
		return nil, usageError(stderr, "bench", "--mode: %v", err), false
	}
	f.Config.Settle = bench.SettleFor(f.Config.Every)
	// Validate everything else (URL, counts, fractions) the way the load
	// generator will, so that a bad flag is a usage error, not a failed run.
	if _, err := loadgen.New(f.Config); err != nil {
		return nil, usageError(stderr, "bench", "%v", err), false
	}
	return &f, 0, true
}

func benchCmd(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseBenchFlags(args, stderr)
	if !ok {
		return code
	}
	return untilInterrupted(func(ctx context.Context) int { return bench.Run(ctx, bench.Options(*f), stdout, stderr) })
}

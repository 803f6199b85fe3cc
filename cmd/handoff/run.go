//go:build !windows

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/supervisor"
)

func init() {
	register(&command{
		Name:    "run",
		Summary: "run PROGRAM under a supervisor that owns its sockets and upgrades it without dropping a request",
		Run:     runCmd,
	})
}

const runSynopsis = `run [flags] -- PROGRAM [ARGS...]

Binds the --listen sockets once and runs PROGRAM with them by systemd socket
activation (LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID; fds from 3). A worker is
ready when it sends READY=1 to $NOTIFY_SOCKET (or see --ready). The
supervisor's pid never changes.

A worker that can pass live connections or state to its successor announces
its handover socket in READY=1 (X_HANDOFF_HANDOVER=PATH, X_HANDOFF_STATE=1);
the worker an upgrade starts in its place gets HANDOFF_HANDOVER_SOCKET,
HANDOFF_HANDOVER_PID and HANDOFF_STATE, and the two talk directly.

Behind systemd: sockets passed by socket activation (a .socket unit, the fd
store, systemd-socket-activate) are matched to the --listen entries by name
(FileDescriptorName=, FDNAME=), then by address, and not bound again; a passed
socket that matches no --listen is an error at start. With --fd-store the
sockets it binds go to systemd's fd store (FDSTORE=1, FDNAME=NAME) and come
back at the next start, so a restart or a crash refuses no connection. See
docs/SYSTEMD.md.

With --takeover PATH a second, independently started 'handoff run' (another
unit, a blue/green pair) takes the sockets from the one serving at PATH and
binds none of them; once its workers are ready, the first drains its workers
and exits 0. A second newcomer at once exits 1 ("another process is taking
over"); a newcomer that fails leaves the first serving. Give each its own
--control. See docs/TAKEOVER.md.

Signals: HUP or USR2 upgrade (PROGRAM is looked up on disk again; with
--hup reload, HUP reloads: the bytes that serve start again, as
'handoff reload'); TERM, INT and QUIT drain the workers and exit (after
--stop-delay, if set), a second one kills them at once; USR1 is
forwarded to the workers; WINCH drains the workers but keeps the sockets until
the next HUP; VTALRM re-executes the supervisor's own binary in place, as
'handoff upgrade --self' (Linux).

Exit status: 0 after a stop; 1 when the first generation fails or workers
crash in a loop (more than --crash-limit times in a row); 2 for bad flags, a
bad --listen URL, a port in use or an unusable control socket. Before every
start of the program (the first included) the pre-flight checks run: the file
exists, is regular, executable, a binary for this machine or a #! script, has
the --verify-sha256 hash, and --check exits 0; 'handoff upgrade' and 'handoff
reload' exit with a status of its own for each refusal (see 'handoff help
upgrade').`

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", runSynopsis, stderr)
	var specs []supervisor.ListenSpec
	fs.Func("listen", "socket to bind, NAME=URL; repeatable. URL: tcp://HOST:PORT, tcp4://, tcp6://, udp://HOST:PORT, unix:///PATH, unixgram:///PATH", func(v string) error {
		spec, err := supervisor.ParseListen(v)
		if err != nil {
			return errors.New(strings.TrimPrefix(err.Error(), supervisor.ErrConfig.Error()+": "))
		}
		specs = append(specs, spec)
		return nil
	})
	pidFile := fs.String("pid-file", "", "write the supervisor's pid here (it never changes)")
	ctl := fs.String("control", "", "control socket (default "+control.Dir()+"/PROGRAM.sock)")
	workers := fs.Int("workers", 1, "processes per generation, sharing the sockets")
	strategy := fs.String("strategy", "all", "upgrade strategy: all (start every new worker, then drain the old) or rolling (one worker at a time)")
	ready := fs.String("ready", "notify", "readiness: notify (READY=1 on NOTIFY_SOCKET), delay:DURATION (alive that long), exec:COMMAND (exits 0; gets $HANDOFF_WORKER_PID). No tcp: the supervisor holds the socket, so a connect always succeeds")
	readyTimeout := fs.Duration("ready-timeout", time.Minute, "kill a new worker not ready by then (the old generation keeps serving)")
	drainSignal := fs.String("drain-signal", "TERM", "signal that tells a worker to drain")
	drainTimeout := fs.Duration("drain-timeout", 30*time.Second, "SIGKILL a draining worker's process group after this")
	probation := fs.Duration("probation", 5*time.Second, "after an upgrade, roll back to the previous program if a new worker dies within this (0: off)")
	maxDraining := fs.Int("max-draining", 4, "at most this many older generations drain at once; at the limit an upgrade retires the oldest (drain cut short, then killed)")
	watchdog := fs.Duration("watchdog", 0, "restart a ready worker that sends no WATCHDOG=1 for this long (passed as WATCHDOG_USEC; 0: off)")
	crashLimit := fs.Int("crash-limit", 5, "exit with status 1 after this many consecutive crashes (restarts back off from 100ms to 10s)")
	stableAfter := fs.Duration("crash-window", 30*time.Second, "a worker that ran this long before crashing starts a new count")
	fdStore := fs.String("fd-store", "auto", "hand the bound sockets to systemd's fd store: auto (when $FDSTORE says it keeps one: systemd 254+ sets it, on older ones the unit sets Environment=FDSTORE=N), on (whenever NOTIFY_SOCKET is set; needs FileDescriptorStoreMax=), off")
	takeoverPath := fs.String("takeover", "", "unix socket PATH (in a 0700 directory) where another 'handoff run --takeover PATH' takes the sockets over: connect there first and take the serving supervisor's sockets instead of binding them; once ready, listen there, and drain and exit 0 when a newcomer is ready (docs/TAKEOVER.md)")
	verbose := fs.Bool("v", false, "log debug detail (notifications, signals) to stderr")
	quiet := fs.Bool("q", false, "log only warnings and errors")
	ops := addOpsFlags(fs) // --check, --verify-sha256, --hup, --stop-delay, --metrics (run_ops.go)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintln(stderr, "handoff run: no program given: handoff run [flags] -- PROGRAM [ARGS...]")
		return exitUsage
	}
	switch *fdStore {
	case "auto", "on", "off":
	default:
		fmt.Fprintf(stderr, "handoff run: --fd-store %q: want auto, on or off\n", *fdStore)
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "handoff run: "+format+"\n", a...)
		return exitUsage
	}
	readiness, err := supervisor.ParseReadiness(*ready)
	if err != nil {
		return usageErr("%v", err)
	}
	sig, err := parseSignal(*drainSignal)
	if err != nil {
		return usageErr("--drain-signal: %v", err)
	}
	if *workers < 1 {
		return usageErr("--workers %d: want at least 1", *workers)
	}
	prob := *probation
	if prob == 0 {
		prob = -1 // Config reads 0 as "default"
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	} else if *quiet {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("supervisor", os.Getpid())
	path := *ctl
	if path == "" {
		path = control.DefaultPath(argv[0])
	}
	cfg := supervisor.Config{
		Program:      argv[0],
		Args:         argv,
		Listeners:    specs,
		Workers:      *workers,
		Strategy:     supervisor.Strategy(*strategy),
		Ready:        readiness,
		ReadyTimeout: *readyTimeout,
		DrainSignal:  sig,
		DrainTimeout: *drainTimeout,
		Probation:    prob,
		MaxDraining:  *maxDraining,
		Watchdog:     *watchdog,
		CrashLimit:   *crashLimit,
		StableAfter:  *stableAfter,
		PIDFile:      *pidFile,
		Control:      path,
		FDStore:      *fdStore,
		Stderr:       stderr,
		Logger:       logger,
		Version:      version,
		Takeover:     *takeoverPath,
	}
	if err := ops.apply(&cfg); err != nil {
		return usageErr("%v", err)
	}
	sup, err := supervisor.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "handoff run: %v\n", err)
		if errors.Is(err, supervisor.ErrConfig) {
			return exitUsage
		}
		return exitFail
	}
	stopMetrics, err := ops.serve(sup, stderr)
	if err != nil {
		return usageErr("%v", err)
	}
	defer stopMetrics()
	fmt.Fprintf(stderr, "handoff: supervisor pid %d, control socket %s\n", os.Getpid(), path)
	if err := sup.Run(); err != nil {
		fmt.Fprintf(stderr, "handoff run: %v\n", err)
		return exitFail
	}
	return exitOK
}

// parseSignal accepts TERM, SIGTERM or a number.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

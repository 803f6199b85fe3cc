package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// Strategy says how an upgrade replaces the workers of a generation.
type Strategy string

const (
	// StrategyAll starts every worker of the new generation, waits until
	// all are ready, then drains every worker of the old one.
	StrategyAll Strategy = "all"
	// StrategyRolling replaces one worker at a time: start one new worker,
	// wait until it is ready, drain one old worker, and so on (Puma's
	// phased restart). It needs less spare capacity than StrategyAll; for
	// a while both versions serve side by side.
	StrategyRolling Strategy = "rolling"
)

// Config describes what a Supervisor runs. Zero fields take the defaults
// documented on each; New validates the rest.
type Config struct {
	// Program is the executable, as a path or a name looked up in $PATH.
	// It is looked up again at every upgrade, so a binary replaced on
	// disk (or a new one earlier in $PATH) is what the next generation
	// runs.
	Program string
	// Args is the program's argv, argv[0] included; empty means
	// []string{Program}.
	Args []string
	// Listeners are bound once, by New, and kept for the supervisor's
	// whole life. Each generation receives them at fds 3, 4, ... in this
	// order, named in LISTEN_FDNAMES.
	Listeners []ListenSpec

	// Workers is the number of processes per generation. Default 1.
	Workers  int
	Strategy Strategy // default StrategyAll

	// Ready says when a new worker counts as serving. Default: READY=1 on
	// NOTIFY_SOCKET.
	Ready Readiness
	// ReadyTimeout bounds the wait for readiness; a worker not ready by
	// then is killed (EXTEND_TIMEOUT_USEC= can push it back). Default 1m.
	ReadyTimeout time.Duration

	// DrainSignal tells a worker to stop accepting and finish its work.
	// Default SIGTERM.
	DrainSignal syscall.Signal
	// DrainTimeout is how long a draining worker may take before its
	// whole process group is SIGKILLed. Default 30s.
	DrainTimeout time.Duration
	// Probation is how long after an upgrade a new generation is watched:
	// if one of its workers dies within it, the previous program is
	// started again and the upgrade is reported as rolled back. Default
	// 5s; negative disables it.
	Probation time.Duration
	// MaxDraining caps how many older generations may be draining after a
	// cutover; beyond it the oldest draining generations are retired (their
	// process groups killed at once, cutting what they still serve), so a
	// fast series of upgrades cannot pile up processes behind long-lived
	// connections. The upgrade is never refused for it. Default 4.
	MaxDraining int

	// Watchdog, when set, is passed to workers as WATCHDOG_USEC; a ready
	// worker that sends no WATCHDOG=1 for that long (or sends
	// WATCHDOG=trigger) is killed and restarted like a crashed one.
	Watchdog time.Duration

	// A worker that exits on its own is restarted after RestartDelay,
	// doubling with each consecutive crash up to MaxRestartDelay
	// (defaults 100ms and 10s). A crash counts as consecutive when the
	// worker ran less than StableAfter (default 30s). After CrashLimit
	// consecutive crashes (default 5) the supervisor gives up: it stops
	// every worker and Run returns ErrCrashLoop.
	RestartDelay    time.Duration
	MaxRestartDelay time.Duration
	StableAfter     time.Duration
	CrashLimit      int

	// PIDFile, when set, receives the supervisor's pid (written
	// atomically; removed at exit). It stays valid across upgrades.
	PIDFile string
	// Control is the control socket path. Empty: no control socket.
	Control string
	// FDStore says whether the sockets New binds go to systemd's fd store
	// (FDStoreAuto, the default; FDStoreOn; FDStoreOff; see fdstore.go).
	FDStore string

	// Env is the environment given to workers, minus the protocol
	// variables. Default os.Environ().
	Env []string
	// Stderr receives what workers write to their stderr (the supervisor
	// keeps the last lines of each for error messages). Default os.Stderr.
	Stderr io.Writer
	// Logger receives the supervisor's own log. Default: discard.
	Logger *slog.Logger

	// Operations (ops.go, preflight.go). Check, when set, is a shell
	// command run before every start of a program (`nginx -t`), with
	// HANDOFF_PROGRAM naming the file that will be exec'd; it must exit 0
	// within CheckTimeout (default 30s). VerifySHA256 pins the program's
	// SHA-256 (hex). A failure refuses the upgrade (StageRefused) and
	// leaves the serving generation untouched. HUPReloads makes SIGHUP
	// reload (same bytes, as Reload) instead of upgrade. StopDelay keeps
	// serving that long after the first TERM, INT or QUIT while
	// Readiness answers 503, then drains.
	Check        string
	CheckTimeout time.Duration
	VerifySHA256 string
	HUPReloads   bool
	StopDelay    time.Duration

	// Takeover, when set, is a unix socket path (in a 0700 directory of
	// this uid) where another supervisor started with the same path takes
	// the listening sockets over (docs/TAKEOVER.md, "Under the
	// supervisor"): New connects there first and, if a supervisor serves,
	// takes its sockets instead of binding them; once ready, this one
	// listens there, and drains and exits when a newcomer is ready.
	Takeover string

	// Version names the supervisor's own build, for status (and the log
	// of a self-upgrade). Default "dev".
	Version string
}

// ErrConfig is matched by every error New returns for a bad Config or for
// resources it cannot take (a port in use, an unusable control path): the
// command maps it to exit status 2.
var ErrConfig = errors.New("bad configuration")

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

func (c Config) withDefaults() (Config, error) {
	if c.Program == "" {
		return c, configError("no program to run")
	}
	if len(c.Args) == 0 {
		c.Args = []string{c.Program}
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Workers < 0 || c.Workers > 1024 {
		return c, configError("workers %d: want 1 to 1024", c.Workers)
	}
	switch c.Strategy {
	case "":
		c.Strategy = StrategyAll
	case StrategyAll, StrategyRolling:
	default:
		return c, configError("strategy %q: want all or rolling", c.Strategy)
	}
	if c.Ready.Kind == "" {
		c.Ready.Kind = ReadyNotify
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadyTimeout, time.Minute)
	def(&c.DrainTimeout, 30*time.Second)
	def(&c.RestartDelay, 100*time.Millisecond)
	def(&c.MaxRestartDelay, 10*time.Second)
	def(&c.StableAfter, 30*time.Second)
	if c.Probation == 0 {
		c.Probation = 5 * time.Second
	}
	if c.DrainSignal == 0 {
		c.DrainSignal = syscall.SIGTERM
	}
	if c.MaxDraining <= 0 {
		c.MaxDraining = 4
	}
	if c.CrashLimit <= 0 {
		c.CrashLimit = 5
	}
	if c.Watchdog < 0 {
		return c, configError("watchdog %v: must not be negative", c.Watchdog)
	}
	if c.Env == nil {
		c.Env = os.Environ()
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

package handoff

import (
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/handoff-go/handoff/internal/proto"
)

// Options configure a Handoff. The zero value is ready to use: every field
// has the default its comment gives.
type Options struct {
	// PIDFile, when set, holds the pid of the serving generation from the
	// moment it becomes ready. It is written at New to a temporary file
	// beside it and renamed into place by Ready, so a full or read-only
	// directory fails New (a new generation that cannot name itself never
	// takes over) and readers never see a partial file. While an old
	// generation drains, its pid is in PIDFile+".oldbin", as nginx does.
	PIDFile string

	// ReadyTimeout bounds how long a new generation may take to call Ready.
	// Past it, the new generation is killed and this one keeps serving.
	// Default 1 minute.
	ReadyTimeout time.Duration

	// Probation is how long this generation keeps its sockets after its
	// successor became ready, without accepting on them. If the successor
	// dies within it, this generation accepts again and the upgrade is
	// reported as rolled back (ErrRolledBack). New connections are not
	// refused meanwhile: they wait in the shared accept queue, which the
	// successor drains. Default 2 seconds; a negative value turns it off.
	Probation time.Duration

	// DrainTimeout caps a drain: connections still open after it are closed
	// (for HTTP, Server.Close). Default 30 seconds.
	DrainTimeout time.Duration

	// DrainIdle is how long the HTTP drain leaves an idle keep-alive
	// connection open, waiting for one more request to answer with
	// "Connection: close", before closing it. Closing an idle connection
	// races with a client that sends on it at that moment, so the drain closes
	// only connections that stayed quiet this long (counted from the start of
	// the drain or their last request, whichever is later). Default 5 seconds.
	DrainIdle time.Duration

	// NoMigrate turns off keep-alive migration. By default, Serve passes
	// idle HTTP/1.1 keep-alive connections to the generation that takes
	// over instead of closing them (listeners from Listen; self-upgrade and
	// under the supervisor): a connection moves only while net/http waits on
	// it with nothing read and nothing buffered, so not a byte of the
	// client's is consumed, and a request already on the wire is read by the
	// new generation. During probation connections stay keep-alive here (no
	// "Connection: close"); one in the middle of a request finishes it here
	// and moves once idle. What cannot move (TLS, pipelined bytes buffered
	// inside net/http, a successor that does not take them) falls back to
	// the drain described at Serve; both are counted in the log. With
	// NoMigrate, every connection drains.
	NoMigrate bool

	// SaveState, when set, writes this generation's state for the next one
	// (a cache, sessions, counters): it is called when the new generation
	// connects, before the new one is ready, and what it writes streams to
	// the new generation's State without being held in memory on either
	// side, at any size. Its error, or the new generation refusing the
	// blob, is logged; the upgrade goes on (the new generation starts
	// without it). Write errors mean the new generation stopped reading:
	// return. See State for what the new side sees.
	SaveState func(w io.Writer) error

	// StateVersion is the format version of what SaveState writes, passed
	// along as State.Version so that the new generation can refuse a
	// format it does not know.
	StateVersion uint32

	// MaxDraining caps how many older generations may still be draining when
	// an upgrade starts. At the cap the oldest is retired, so that the
	// upgrade runs: it gets SIGTERM, which makes a draining generation close
	// what it still has at once (its drain deadline brought forward), and
	// SIGKILL if it is still there 2 seconds later. Each retirement is logged
	// (with a running count) and listed in UpgradeReport.Retired. Linux only:
	// elsewhere the pid cannot be checked against reuse, and the upgrade is
	// refused instead (ErrTooManyDraining). Default 4.
	MaxDraining int

	// Command returns the program an upgrade starts (unused on Windows,
	// which has no upgrades). The default is the
	// executable this process was started from, resolved once at New (so a
	// binary replaced on disk at the same path is the one that starts), with
	// the same arguments.
	Command func() (path string, args []string, err error)

	// NoSignals leaves signals to the caller. By default New handles SIGHUP
	// and SIGUSR2 (upgrade) and SIGTERM, SIGINT and SIGQUIT (drain and exit:
	// Draining is closed). Under the handoff supervisor, SIGHUP and SIGUSR2
	// are the supervisor's and are not handled. On Windows, Ctrl-C,
	// Ctrl-Break and the console's close, logoff and shutdown events drain.
	NoSignals bool

	// NoFDStore keeps the sockets out of systemd's fd store. By default,
	// when $FDSTORE says systemd keeps one (FileDescriptorStoreMax=;
	// systemd 254+ sets it, on older ones set Environment=FDSTORE=N), Ready
	// stores every socket this process serves on, and the next start of
	// the service (systemctl restart, a crash with Restart=) inherits them:
	// no connection is refused while the service is down. Linux and BSD
	// under systemd only; ignored under the handoff supervisor.
	NoFDStore bool

	// Logger receives what happens: upgrades, readiness, drains, failures.
	// Default: nothing is logged.
	Logger *slog.Logger

	// Stderr receives what a starting generation writes to its stderr until
	// it is ready (kept too, for the error message if it fails). Default
	// os.Stderr.
	Stderr io.Writer

	// StopDelay, when set, keeps serving that long after the first stop
	// signal (SIGTERM, SIGINT, SIGQUIT) while ReadinessHandler answers
	// 503, then drains: the Kubernetes lame duck (docs/KUBERNETES.md). A
	// second signal, or Drain, drains at once. Not applied under the
	// handoff supervisor, whose --stop-delay does it for the whole pod.
	// Default 0: drain at the signal.
	StopDelay time.Duration

	// NoQUICRouting makes ListenQUIC serve plain quic-go, without
	// connection IDs that name their generation and without forwarding: a
	// test and diagnostic knob that shows what the routing prevents (an
	// old generation's QUIC connections lose their datagrams once the new
	// one reads the socket). Every generation of a program should agree.
	NoQUICRouting bool

	// Takeover, when set, is the path of a unix socket through which a
	// process started by somebody else (a second systemd unit, a new
	// container, an operator) takes over from the one that serves: the
	// serving generation listens there; a process started with the same
	// path and no inherited sockets connects instead of binding, receives
	// the listening sockets, the state and the live connections, and
	// reports ready on the channel; only then does the old one drain
	// (probation and rollback as for Upgrade). The directory must exist,
	// belong to this process's uid and have mode 0700; the socket is 0600,
	// and both ends check the peer's uid with the kernel. A second
	// newcomer while one takes over fails with ErrTakeoverBusy. Empty: the
	// value of $HANDOFF_TAKEOVER, if any. Unix only (ignored on Windows and
	// under the handoff supervisor). See docs/TAKEOVER.md.
	Takeover string
}

func (o Options) withDefaults() Options {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = time.Minute
	}
	if o.Probation == 0 {
		o.Probation = 2 * time.Second
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.DrainIdle <= 0 {
		o.DrainIdle = 5 * time.Second
	}
	if o.MaxDraining <= 0 {
		o.MaxDraining = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Takeover == "" {
		o.Takeover = os.Getenv(proto.EnvTakeover)
	}
	return o
}

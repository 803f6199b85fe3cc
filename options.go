package handoff

import (
	"io"
	"log/slog"
	"os"
	"time"
)

// Options configure a Handoff. The zero value is ready to use: every field
// has the default its comment gives.
type Options struct {
	// PIDFile, when set, is written atomically (write a temporary file,
	// rename) with the pid of the serving generation when it becomes ready.
	// While an old generation drains, its pid is in PIDFile+".oldbin", as
	// nginx does.
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

	// MigrateConns passes idle HTTP/1.1 keep-alive connections to the new
	// generation at the end of probation instead of closing them (Serve on
	// a listener from Listen, self-upgrade mode). A connection is taken only
	// while net/http waits on it with nothing read and nothing buffered, so
	// not a byte of the client's is consumed: a request already on the wire
	// is read by the new generation. During probation connections stay
	// keep-alive on this generation (no "Connection: close"); a connection
	// in the middle of a request finishes it here and migrates once idle.
	// What cannot move (TLS, pipelined bytes buffered inside net/http, a
	// successor that does not take them) falls back to the drain described
	// at Serve; both are counted in the log. Default false for now: it will
	// become the default once proven.
	MigrateConns bool

	// MaxDraining caps how many older generations may still be draining when
	// an upgrade starts (ErrTooManyDraining beyond it). Default 4.
	MaxDraining int

	// Command returns the program an upgrade starts. The default is the
	// executable this process was started from, resolved once at New (so a
	// binary replaced on disk at the same path is the one that starts), with
	// the same arguments.
	Command func() (path string, args []string, err error)

	// NoSignals leaves signals to the caller. By default New handles SIGHUP
	// and SIGUSR2 (upgrade) and SIGTERM, SIGINT and SIGQUIT (drain and exit:
	// Draining is closed). Under the handoff supervisor, SIGHUP and SIGUSR2
	// are the supervisor's and are not handled.
	NoSignals bool

	// Logger receives what happens: upgrades, readiness, drains, failures.
	// Default: nothing is logged.
	Logger *slog.Logger

	// Stderr receives what a starting generation writes to its stderr until
	// it is ready (kept too, for the error message if it fails). Default
	// os.Stderr.
	Stderr io.Writer
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
	return o
}

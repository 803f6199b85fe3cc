package handoff

import (
	"log/slog"

	"github.com/handoff-go/handoff/internal/launch"
	"sync"
	"sync/atomic"
)

// A Handoff is one generation's end of the handoff: it owns the sockets this
// process serves on, passes them to the next generation on Upgrade, and tells
// the previous generation (or systemd, or the supervisor) when this one is
// ready. Create one with New, early in main, and Stop it before exiting.
//
// All methods are safe for concurrent use.
type Handoff struct {
	opts Options
	log  *slog.Logger

	// links to the other generations and the service manager; nil for a
	// process alone (links.go). The old side of the handover lives in
	// successor.go, the new side in predecessor.go.
	links links

	// fdMu is held for reading while descriptors are passed to a child, and
	// for writing while Stop closes them.
	fdMu sync.RWMutex

	mu         sync.Mutex // guards the fields below
	phase      Phase
	changed    chan struct{} // closed and replaced at every phase change
	sockets    []*socket     // everything a successor would receive, in order
	superseded bool          // a successor passed probation: the sockets are its now
	stateAsked bool          // State was called

	draining  chan struct{} // closed when the phase first reaches PhaseDraining
	stopCh    chan struct{} // closed by Stop
	hard      chan struct{} // closed by a second stop signal: drain no more
	hardOnce  sync.Once
	drainOnce sync.Once
	stopOnce  sync.Once
	signals   *signalWatcher
	lameDuck  atomic.Bool // Options.StopDelay running (stopdelay.go)
	// pidFile is Options.PIDFile, written at New and put in place by Ready
	// (pidfile.go); nil once committed or aborted.
	pidFile *launch.PendingPIDFile
	stats   *tally // what Collector exports (metrics.go)

	quic quicRoutes // routed QUIC listeners (quic.go, quic_route_unix.go)
}

// New reads what the previous generation, systemd or the supervisor passed
// to this process (sockets in LISTEN_FDS, NOTIFY_SOCKET, HANDOFF_*) and
// removes those variables from the environment, so that programs this
// process starts do not mistake them for their own. With no parent it
// returns a Handoff that binds fresh sockets. On Windows nothing is
// inherited and upgrades are not supported: New returns a Handoff that
// serves plain.
//
// New fails when the parent speaks an incompatible protocol version
// (ErrProtocol), or the variables are malformed (ErrProtocol too), or
// Options.PIDFile cannot be written (a full or read-only directory: the
// error wraps the *os.PathError): exiting then (the caller's choice) makes
// the parent's upgrade fail with this message, and the parent keeps
// serving, still named in the PID file.
func New(opts Options) (*Handoff, error) {
	h := newPlain(opts)
	if err := h.preparePIDFile(); err != nil {
		return nil, err
	}
	l, err := openLinks(h)
	if err != nil {
		h.abortPIDFile()
		return nil, err
	}
	if l != nil {
		h.links = l
	}
	h.log.Debug("handoff: started", "generation", h.Generation(), "linked", h.links != nil)
	if !h.opts.NoSignals {
		h.signals = h.watchSignals()
	}
	return h, nil
}

// newPlain returns a Handoff with no links: a process alone, as on
// Windows.
func newPlain(opts Options) *Handoff {
	opts = opts.withDefaults()
	return &Handoff{
		opts:     opts,
		log:      opts.Logger,
		changed:  make(chan struct{}),
		draining: make(chan struct{}),
		stopCh:   make(chan struct{}),
		hard:     make(chan struct{}),
		stats:    newTally(),
	}
}

// Generation returns this process's generation number: 1 for a process
// nobody handed sockets to, and one more than its predecessor's otherwise.
func (h *Handoff) Generation() int {
	if h.links == nil {
		return 1
	}
	return h.links.generation()
}

func (h *Handoff) supervised() bool { return h.links != nil && h.links.supervised() }

// Draining is closed when this generation must stop taking new work and
// finish what it has: a successor has taken over (after the probation
// window), or a stop signal arrived (SIGTERM, SIGINT, SIGQUIT; on Windows
// Ctrl-C and the console's close and shutdown events), or Drain was
// called. Listeners from Listen stop accepting at the same moment.
func (h *Handoff) Draining() <-chan struct{} { return h.draining }

// Drain starts this generation's drain by hand, as SIGTERM does. It does
// nothing once the generation is draining or stopped.
func (h *Handoff) Drain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handOverIfInProbationLocked()
	h.beginDrainLocked()
}

// handOverIfInProbationLocked: a drain or Stop of this generation while its
// successor is in probation hands everything to the successor, now: the
// successor is ready and already named in the PID file and to systemd, so
// this is a stop of the old generation only (issue 10 finding (e): Stop
// must not unlink the unix socket paths the successor serves on, nor tell
// systemd STOPPING).
func (h *Handoff) handOverIfInProbationLocked() {
	if h.phase == PhaseProbation {
		h.superseded = true
	}
}

func (h *Handoff) beginDrainLocked() {
	if h.phase == PhaseStopped || !h.setPhaseLocked(PhaseDraining) {
		return
	}
	h.drainOnce.Do(func() {
		close(h.draining)
		h.stats.drainBegan()
		for _, s := range h.sockets {
			s.stopAccepting()
		}
	})
}

// Stop releases everything: it closes this generation's copies of its
// sockets (a successor that received them keeps them open), kills a new
// generation that is still starting, removes the PID file if it names this
// process, and tells systemd or the supervisor STOPPING=1 when no successor
// took over. Listeners from Listen return net.ErrClosed afterwards. Call it
// once the drain is over; it does not wait for connections. Calling it
// again does nothing. What fails while releasing is logged: nothing is
// left for the caller to do about it.
func (h *Handoff) Stop() {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		h.handOverIfInProbationLocked()
		superseded := h.superseded
		h.beginDrainLocked()
		close(h.stopCh)
		h.setPhaseLocked(PhaseStopped)
		sockets := h.sockets
		h.sockets = nil
		h.mu.Unlock()

		if h.signals != nil {
			h.signals.stop()
		}
		h.fdMu.Lock()
		for _, s := range sockets {
			s.close(!superseded)
		}
		h.fdMu.Unlock()
		h.stats.drainEnded() // before links.stop hands the counts over
		if h.links != nil {
			h.links.stop(superseded)
		}
		h.abortPIDFile()
		h.removePIDFiles()
	})
}

// hardStop is closed when a stop signal arrives during the drain: the
// operator wants the process gone now.
func (h *Handoff) hardStop() <-chan struct{} { return h.hard }

// stopping is closed when Stop is called.
func (h *Handoff) stopping() <-chan struct{} { return h.stopCh }

// Upgrade starts the next generation and hands it this generation's sockets.
// It returns once the outcome is final:
//
//   - nil: the new generation became ready and survived the probation
//     window; this generation is draining (Draining is closed).
//   - ErrUpgradeFailed: the new program is missing (then the error also
//     satisfies errors.Is(err, fs.ErrNotExist)), exited, crashed or was not
//     ready within Options.ReadyTimeout. It was killed; this generation
//     keeps serving and never stopped accepting. The error says why, with
//     the exit status and the last lines the new process wrote to stderr.
//   - ErrRolledBack: the new generation became ready, then died within the
//     probation window; this generation accepts again.
//   - ErrPassedOn: the call came while another upgrade ran, and that one
//     succeeded: the upgrade this call asked for was passed to the new
//     generation (as SIGHUP), which runs it; its outcome is that
//     generation's to report (its log, and systemd's STATUS).
//   - ErrNotServing, ErrSupervised: nothing was started.
//   - ErrTooManyDraining: Options.MaxDraining older generations still
//     drain, and the oldest could not be retired (only off Linux, where its
//     pid cannot be checked); nothing was started.
//   - ErrStopped: Stop, Drain or a stop signal came meanwhile; the new
//     generation was killed (while it started), or was itself stopped in
//     probation, so that no generation of the program is left serving.
//   - ErrNotSupported: this platform cannot pass sockets to another
//     process (Windows): nothing was started, this generation serves on.
//
// One upgrade runs at a time, and the newest request wins: a call that
// comes while an upgrade runs (starting, waiting for ready, or in
// probation) is neither refused nor merged into it, since the program on
// disk may have changed since that one looked it up. It queues one
// follow-up upgrade that looks the program up again when the running one
// ends, and waits for its outcome; every call that comes meanwhile shares
// that follow-up. UpgradeReport says whether a call waited.
//
// SIGHUP and SIGUSR2 call Upgrade (unless Options.NoSignals) and log its
// result.
func (h *Handoff) Upgrade() error {
	_, err := h.UpgradeReport()
	return err
}

// UpgradeReport is Upgrade, and says more about the upgrade that answered
// the call.
func (h *Handoff) UpgradeReport() (UpgradeReport, error) {
	if h.links == nil {
		return UpgradeReport{}, ErrNotSupported
	}
	return h.links.upgrade()
}

// UpgradeReport is what became of an Upgrade call, beside its error.
type UpgradeReport struct {
	// Generation and PID are the new generation's: the upgrade that
	// answered the call started it (it may have been killed since: see the
	// error). Zero when none was started.
	Generation int
	PID        int
	// Waited says the call came while another upgrade ran: it waited for
	// that one to end, then the follow-up it queued ran (or was passed on,
	// see PassedTo), with the program as it was on disk by then.
	Waited bool
	// PassedTo is the pid of the new generation the call's upgrade was
	// passed on to (ErrPassedOn), 0 otherwise.
	PassedTo int
	// Retired lists the pids of the draining generations this upgrade
	// retired to stay within Options.MaxDraining (see there).
	Retired []int
}

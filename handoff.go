package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/proto"
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

	generation int
	exe        string
	args       []string

	// Where readiness and status go. notify is NOTIFY_SOCKET as we found it:
	// an upgrading parent's, the supervisor's or systemd's. upstream is
	// systemd's socket when notify is a handoff parent's.
	notify        string
	upstream      string
	fromParent    bool // started by a self-upgrading handoff parent
	supervised    bool
	supervisorPID int    // the supervisor's pid, when supervised
	stderrFD      int    // parent's real stderr, to move onto fd 2 at Ready; -1 if none
	ancestors     []int  // older generations that may still be draining
	envNote       string // why inherited fds were ignored, if they were

	fdMu       sync.RWMutex // held for reading while descriptors are passed to a child
	mu         sync.Mutex
	phase      Phase
	changed    chan struct{} // closed and replaced at every phase change
	inherited  []*inheritedFD
	byName     map[string][]*inheritedFD // index of inherited, for claim
	scanFrom   int                       // inherited[:scanFrom] are all claimed
	sockets    []*socket                 // everything a successor would receive, in order
	upgrading  bool
	handedOver bool // a successor passed probation: the sockets are its now
	draining   chan struct{}
	stopCh     chan struct{}
	hard       chan struct{} // closed by a second stop signal: drain no more
	hardOnce   sync.Once
	drainOnce  sync.Once
	stopOnce   sync.Once
	signals    *signalWatcher

	// The handover channel between generations (channel.go).
	// Old side:
	link *successorLink // the channel offered to the successor; nil when none
	// New side:
	handoverPath string // the predecessor's handover socket
	handoverPID  int    // ... and its pid (0: any of our uid)
	expectState  bool   // the predecessor sends a state blob
	dialOnce     sync.Once
	recv         *handover.Receiver
	dialErr      error
	early        []handover.Item // received by State before the state; for receive
	stateAsked   bool
	conns        chan Conn            // HandedOver's; nil until asked
	connsDone    bool                 // conns is (or will be made) closed
	migrating    map[string]*listener // listeners that take handed-over HTTP conns, by address
}

// Phase is where a generation is in its life.
type Phase int

// The phases of a generation, in order. An upgrade moves Serving to
// Upgrading, then (once the new generation is ready) Probation, then
// Draining; a failed upgrade or a rollback returns to Serving.
const (
	Starting  Phase = iota // New returned; Ready not yet called
	Serving                // Ready called: accepting, may upgrade
	Upgrading              // a new generation is starting
	Probation              // the new generation is ready; this one holds its sockets without accepting
	Draining               // this generation is finishing its work and will exit
	Stopped                // Stop was called
)

func (p Phase) String() string {
	switch p {
	case Starting:
		return "starting"
	case Serving:
		return "serving"
	case Upgrading:
		return "upgrading"
	case Probation:
		return "probation"
	case Draining:
		return "draining"
	case Stopped:
		return "stopped"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// New reads what the previous generation, systemd or the supervisor passed
// to this process (sockets in LISTEN_FDS, NOTIFY_SOCKET, HANDOFF_*) and
// removes those variables from the environment, so that programs this
// process starts do not mistake them for their own. With no parent it
// returns a Handoff that binds fresh sockets.
//
// New fails when the parent speaks an incompatible protocol version, or the
// variables are malformed: exiting then (the caller's choice) makes the
// parent's upgrade fail with this message, and the parent keeps serving.
func New(opts Options) (*Handoff, error) {
	opts = opts.withDefaults()
	h := &Handoff{
		opts:       opts,
		log:        opts.Logger,
		generation: 1,
		stderrFD:   -1,
		changed:    make(chan struct{}),
		draining:   make(chan struct{}),
		stopCh:     make(chan struct{}),
		hard:       make(chan struct{}),
	}
	if err := h.readEnv(); err != nil {
		h.closeInherited()
		return nil, err
	}
	if err := h.resolveCommand(); err != nil {
		h.closeInherited()
		return nil, err
	}
	if h.envNote != "" {
		h.log.Warn("handoff: ignoring inherited sockets", "reason", h.envNote)
	}
	h.log.Debug("handoff: started", "generation", h.generation, "inherited", len(h.inherited), "supervised", h.supervised)
	if !opts.NoSignals {
		h.signals = h.watchSignals()
	}
	return h, nil
}

// readEnv takes the protocol variables out of the environment.
func (h *Handoff) readEnv() error {
	take := func(name string) string {
		v := os.Getenv(name)
		os.Unsetenv(name)
		return v
	}
	if v := take(proto.EnvProtocol); v != "" {
		if err := proto.Check(v); err != nil {
			return fmt.Errorf("handoff: started by the previous generation: %w", err)
		}
		h.fromParent = true
	}
	if v := take(proto.EnvGeneration); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("handoff: %s=%q: not a generation number", proto.EnvGeneration, v)
		}
		h.generation = n
	}
	if v := take(proto.EnvSupervisor); v != "" {
		h.supervised = true
		h.fromParent = false
		h.supervisorPID, _ = strconv.Atoi(v)
	}
	take(proto.EnvControl)
	if v := take(proto.EnvStderrFD); v != "" {
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 3 {
			return fmt.Errorf("handoff: %s=%q: not a descriptor", proto.EnvStderrFD, v)
		}
		unix.CloseOnExec(fd)
		h.stderrFD = fd
	}
	h.ancestors = splitPids(take(envAncestors))
	if err := h.readHandoverEnv(take); err != nil {
		return err
	}
	h.notify = take("NOTIFY_SOCKET")
	h.upstream = take(proto.EnvUpstreamNotify)
	if !h.fromParent && !h.supervised {
		// NOTIFY_SOCKET is systemd's own (or absent).
		h.upstream = h.notify
	}

	fds, pid, names := take("LISTEN_FDS"), take("LISTEN_PID"), take("LISTEN_FDNAMES")
	passed, err := activation.Parse(fds, pid, names, os.Getpid())
	if errors.Is(err, activation.ErrNotForUs) {
		// As libsystemd does: the fds belong to some other process (our
		// parent, most likely, whose environment we inherited). Leave them.
		h.envNote = err.Error()
		return nil
	}
	if err != nil {
		return fmt.Errorf("handoff: inherited sockets: %w", err)
	}
	for _, p := range passed {
		unix.CloseOnExec(p.FD)
		h.inherited = append(h.inherited, &inheritedFD{Passed: p})
	}
	return nil
}

func (h *Handoff) resolveCommand() error {
	if h.opts.Command != nil {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("handoff: find own executable: %w", err)
	}
	h.exe, h.args = exe, append([]string(nil), os.Args...)
	return nil
}

// Generation returns this process's generation number: 1 for a process
// nobody handed sockets to, and one more than its predecessor's otherwise.
func (h *Handoff) Generation() int { return h.generation }

// Phase returns the current phase, and a channel closed at the next change.
func (h *Handoff) Phase() (Phase, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.phase, h.changed
}

// setPhase must be called with h.mu held.
func (h *Handoff) setPhase(p Phase) {
	if h.phase == p {
		return
	}
	h.log.Debug("handoff: phase", "from", h.phase, "to", p)
	h.phase = p
	close(h.changed)
	h.changed = make(chan struct{})
}

// Draining is closed when this generation must stop taking new work and
// finish what it has: a successor has taken over (after the probation
// window), or a stop signal arrived (SIGTERM, SIGINT, SIGQUIT), or Drain was
// called. Listeners from Listen stop accepting at the same moment.
func (h *Handoff) Draining() <-chan struct{} { return h.draining }

// Drain starts this generation's drain by hand, as SIGTERM does.
func (h *Handoff) Drain() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beginDrainLocked()
}

func (h *Handoff) beginDrainLocked() {
	if h.phase == Stopped {
		return
	}
	h.setPhase(Draining)
	h.drainOnce.Do(func() {
		close(h.draining)
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
// once the drain is over; it does not wait for connections.
func (h *Handoff) Stop() error {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		handedOver := h.handedOver
		h.beginDrainLocked()
		close(h.stopCh)
		h.setPhase(Stopped)
		sockets := h.sockets
		h.sockets = nil
		h.mu.Unlock()

		if h.signals != nil {
			h.signals.stop()
		}
		h.closeInherited()
		h.fdMu.Lock()
		for _, s := range sockets {
			s.close(!handedOver)
		}
		h.fdMu.Unlock()
		if !handedOver {
			h.notifyUpstream("STOPPING=1")
		}
		h.finishHandover()
		h.closePredecessor()
		h.removePIDFiles()
		if h.stderrFD >= 0 {
			unix.Close(h.stderrFD)
			h.stderrFD = -1
		}
	})
	return nil
}

// hardStop is closed when a stop signal arrives during the drain: the
// operator wants the process gone now.
func (h *Handoff) hardStop() <-chan struct{} { return h.hard }

// stopping is closed when Stop is called.
func (h *Handoff) stopping() <-chan struct{} { return h.stopCh }

func (h *Handoff) closeInherited() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, in := range h.inherited {
		if !in.claimed {
			unix.Close(in.FD)
			in.claimed = true
		}
	}
}

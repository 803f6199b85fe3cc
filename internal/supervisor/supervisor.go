//go:build unix

package supervisor

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/launch"
)

// runDirPrefix names the supervisor's private run directory in /tmp.
const runDirPrefix = "handoff-run"

// Supervisor owns the listening sockets and runs generations of a program
// on them. All mutable state is owned by one goroutine, the loop in Run;
// other goroutines (process waiters, notification readers, timers, the
// control server, an upgrade in progress) hand it closures through post
// and call, so there is no lock to get wrong.
type Supervisor struct {
	cfg     Config
	log     *slog.Logger
	sockets []*boundSocket
	fds     []int
	names   []string
	runDir  string // private directory for the workers' notify sockets (notify_socket.go)
	ctl     *net.UnixListener
	spawner *spawner
	sd      *upstream
	startAt time.Time

	operations *opsState     // metrics, reload, stop delay (ops.go)
	tk         *takeoverSide // Config.Takeover (takeover.go); nil without

	ops  chan func()
	sigs chan os.Signal
	done chan struct{} // closed when the loop has exited

	// Owned by the loop.
	gens     []*generation
	slots    []*worker
	lastGen  int
	exeRefs  map[*executable]int
	upgrade  *upgradeOp
	next     *upgradeOp // queued follow-up: runs when upgrade ends (trigger.go)
	last     *control.Upgrade
	retired  int  // draining generations cut short by MaxDraining (retire.go)
	served   bool // the first generation became ready once
	idle     bool // WINCH: workers drained, sockets kept
	stopping bool
	hard     bool
	exitErr  error
	quit     bool

	// Self-upgrade (selfupgrade_linux.go): the binary this process was
	// started from, how often this pid re-executed itself and when, the
	// state handed over by the last re-exec (until Run adopts it), and
	// whether a self-upgrade is under way (owned by the loop; Linux only).
	self          string
	reexecs       int
	reexecAt      time.Time
	resumed       *selfState
	selfUpgrading bool
}

// New validates cfg and takes the resources the supervisor keeps for its
// life: it binds every listener, creates the control socket and the private
// directory for notify sockets. It starts no process. Errors match ErrConfig
// when the configuration or the environment is at fault (a bad URL, a port
// in use, a control socket in use).
func New(cfg Config) (*Supervisor, error) {
	resumed, err := takeSelfState() // a self-upgrade handed us its state (selfstate_linux.go)
	if err != nil {
		return nil, fmt.Errorf("handoff: self-upgrade: %w", err)
	}
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:     cfg,
		log:     cfg.Logger,
		ops:     make(chan func(), 64),
		sigs:    make(chan os.Signal, 32),
		done:    make(chan struct{}),
		exeRefs: make(map[*executable]int),
		slots:   make([]*worker, cfg.Workers),
	}
	s.operations = newOpsState(s)
	s.self, _ = os.Executable()
	ok := false
	defer func() {
		if !ok {
			s.release()
		}
	}()
	s.cfg.Env = withoutFDStore(s.cfg.Env)
	if resumed != nil {
		if err := s.resumeResources(resumed); err != nil {
			return nil, fmt.Errorf("handoff: self-upgrade: %w", err)
		}
		ok = true
		return s, nil
	}
	// Sockets a socket unit or systemd's fd store passed us (activation.go).
	adopted, err := adoptInherited(cfg.Listeners, s.log)
	if err != nil {
		return nil, err
	}
	taken, err := s.joinTakeover(cfg.Listeners) // a serving supervisor's sockets (takeover.go)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, spec := range cfg.Listeners {
		if seen[spec.Name] {
			// Not an error for systemd, but the library and most
			// programs look sockets up by name.
			s.log.Warn("handoff: several listeners share a name", "name", spec.Name)
		}
		seen[spec.Name] = true
		b := adopted[i]
		delete(adopted, i)
		if b == nil {
			b = taken[i]
		}
		if b == nil {
			if b, err = bind(spec); err != nil {
				for _, a := range adopted {
					a.close()
				}
				return nil, err
			}
		}
		s.sockets = append(s.sockets, b)
		s.fds = append(s.fds, b.fd)
		s.names = append(s.names, spec.Name)
	}
	if err := s.storeSockets(cfg.FDStore); err != nil { // fdstore.go
		return nil, err
	}
	if cfg.Control != "" {
		s.ctl, err = control.Listen(cfg.Control)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	// Directories of supervisors (and library processes) of ours that were
	// killed before they could remove them pile up in /tmp: clean them.
	for _, prefix := range []string{runDirPrefix, launch.NotifyDirPrefix} {
		for _, d := range launch.CleanStaleDirs(prefix) {
			s.log.Info("handoff: removed a stale directory of a process that is gone", "dir", d)
		}
	}
	s.runDir, err = launch.MkdirOwned(runDirPrefix)
	if err == nil {
		err = openRunDir(s.runDir)
	}
	if err != nil {
		return nil, fmt.Errorf("handoff: notify directory: %w", err)
	}
	ok = true
	return s, nil
}

// Sockets describes the bound listeners, in LISTEN_FDNAMES order.
func (s *Supervisor) Sockets() []control.Socket {
	out := make([]control.Socket, len(s.sockets))
	for i, b := range s.sockets {
		out[i] = control.Socket{Name: b.spec.Name, Address: b.desc}
	}
	return out
}

// Run starts the first generation and supervises until the supervisor is
// stopped (SIGTERM, SIGINT, SIGQUIT, or POST /stop), then drains every
// worker, releases the sockets and returns nil. It returns ErrStartFailed
// when the first generation cannot start or become ready, and ErrCrashLoop
// when workers keep crashing; in both cases every worker has been stopped.
// Run handles the signals listed in the package documentation while it
// runs, and must be called once.
func (s *Supervisor) Run() error {
	defer s.release()
	if s.resumed == nil {
		s.startAt = time.Now()
	}
	s.spawner = newSpawner()
	s.sd = newUpstream(s.log)
	if st := s.resumed; st != nil {
		s.adoptWorkers(st) // before the reaper: every inherited child is known first
		s.resumed = nil
	}
	stopReaper := make(chan struct{})
	defer close(stopReaper)
	startReaper(s.spawner, s.log, stopReaper)

	if s.cfg.PIDFile != "" {
		// It stays valid for the supervisor's whole life: upgrades do not
		// change our pid.
		if err := launch.WritePIDFile(s.cfg.PIDFile, pid()); err != nil {
			return err
		}
		defer launch.RemovePIDFile(s.cfg.PIDFile, pid())
	}
	signal.Notify(s.sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, selfSignal)
	defer signal.Stop(s.sigs)
	if s.ctl != nil {
		go control.Serve(s.ctl, s)
	}
	s.serveResumedTakeover() // takeover.go
	for _, b := range s.sockets {
		s.log.Info("handoff: listening", "socket", b.String())
	}

	if s.reexecs == 0 || !s.served {
		s.beginUpgrade(true)
	} else {
		s.log.Info("handoff: self-upgrade: this binary took over", "pid", pid(), "path", s.self, "version", s.cfg.Version, "reexecs", s.reexecs)
		s.sd.send("STATUS=supervisor re-executed in place (" + s.cfg.Version + ")")
	}
	var tick <-chan time.Time
	if iv := s.tickInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	for !s.quit {
		select {
		case f := <-s.ops:
			f()
		case sig := <-s.sigs:
			s.onSignal(sig)
		case <-tick:
			s.checkWatchdogs()
			s.sd.ping()
		}
	}
	close(s.done)
	s.sd.flush(2 * sendTimeout)
	return s.exitErr
}

// post hands f to the loop. After the loop has exited it drops f: whatever
// f would have updated is gone.
func (s *Supervisor) post(f func()) {
	select {
	case s.ops <- f:
	case <-s.done:
	}
}

// call runs f on the loop and waits for it; false means the loop is gone
// and f did not run.
func (s *Supervisor) call(f func()) bool {
	ran := make(chan struct{})
	s.post(func() { f(); close(ran) })
	select {
	case <-ran:
		return true
	case <-s.done:
		return false
	}
}

// release gives back what New took. Closing the listeners is what finally
// refuses new connections: until here they queued.
func (s *Supervisor) release() {
	s.releaseTakeover()
	if s.ctl != nil {
		s.ctl.Close() // a UnixListener removes its socket file
	}
	for _, b := range s.sockets {
		b.close()
	}
	for e := range s.exeRefs {
		e.release()
	}
	if s.runDir != "" {
		os.RemoveAll(s.runDir)
	}
}

func (s *Supervisor) tickInterval() time.Duration {
	iv := s.sd.watchdogInterval()
	if w := s.cfg.Watchdog / 4; w > 0 && (iv == 0 || w < iv) {
		iv = w
	}
	return iv
}

// alive counts live workers in every generation.
func (s *Supervisor) alive() int {
	n := 0
	for _, g := range s.gens {
		n += g.alive()
	}
	return n
}

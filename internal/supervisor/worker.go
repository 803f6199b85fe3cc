//go:build unix

package supervisor

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/spawn"
)

type workerState int

const (
	workerStarting workerState = iota
	workerReady
	workerDraining
	workerExited
)

func (s workerState) String() string {
	return [...]string{"starting", "ready", "draining", "exited"}[s]
}

// worker is one process of a generation. Every field below proc is owned
// by the supervisor's loop goroutine.
type worker struct {
	gen     *generation
	slot    int
	proc    *spawn.Process
	recv    *launch.Notify
	started time.Time

	state    workerState
	readyAt  time.Time
	deadline time.Time // for readiness; EXTEND_TIMEOUT_USEC moves it
	lastPing time.Time // last WATCHDOG=1
	mainPID  int       // from MAINPID=, verified (tree.go)
	main     procID    // the MAINPID= process, by pid and start time
	status   string    // last STATUS=
	errno    int       // last ERRNO=
	// handover is the handover socket the worker announced in its last
	// READY=1 (validated; empty if none), and handoverState whether it
	// will send a state blob there: what its successor is told.
	handover      string
	handoverState bool
	// failure says why the supervisor gave up on the worker (not ready in
	// time, watchdog, protocol mismatch); it is set before the kill, so
	// reports name the cause rather than "signal: killed".
	failure string
	// watched: an upgrade decides what this worker's exit means (it is
	// starting as part of the upgrade, or in probation), not crash handling.
	watched bool
	// stopping: the supervisor asked it to go (drain or kill): its exit is
	// expected, never a crash.
	stopping bool
	// rejectLogged and rejectSuppressed rate-limit the log lines about
	// refused notifications (rejectNotify).
	rejectLogged     time.Time
	rejectSuppressed int
	crashes          int // consecutive crashes of its slot, its own exit not included
	restarts         int // how often its slot was restarted after crashes
	reported         bool
	// gone: adopted across a self re-exec after it had been reaped; its pid
	// is not ours to signal (selfstate_linux.go).
	gone bool
}

func (w *worker) pid() int { return w.proc.Pid }

func (w *worker) alive() bool { return w.state != workerExited }

// startWorker starts one process of g in slot. It runs on the loop.
func (s *Supervisor) startWorker(g *generation, slot int) (*worker, error) {
	recv, err := listenWorkerNotify(s.runDir)
	if err != nil {
		return nil, fmt.Errorf("start generation %d: %w", g.n, err)
	}
	from, intro := s.handoverEnv(slot)
	// Every HANDOFF_ variable of the supervisor's own environment goes,
	// the handover ones included: only handoverEnv may introduce a worker
	// to a predecessor, never whatever started the supervisor. The worker
	// runs through the shim, so any program gets its own LISTEN_PID.
	// A worker that writes to stderr after the supervisor died must not
	// die of SIGPIPE: its fd 2 is a pipe only we read. So it also gets our
	// real stderr after the sockets (HANDOFF_STDERR_FD), which the handoff
	// library moves onto fd 2 once it is ready; other programs keep the
	// pipe. Only when our stderr is where worker output goes anyway.
	passStderr := s.cfg.Stderr == os.Stderr
	path, env, err := launch.Child{
		PassStderr: passStderr,
		Env:        s.cfg.Env,
		Program:    g.exe.target(),
		Generation: g.n,
		Names:      s.names,
		Notify:     recv.Path(),
		Supervisor: os.Getpid(),
		Control:    s.cfg.Control,
		Handover:   intro,
		// A newcomer supervisor's workers, which do not descend from
		// this one, may connect to this worker's handover socket
		// (takeover_intro.go): the takeover's own trust is the uid.
		SuccessorByUID: s.cfg.Takeover != "",
		Watchdog:       s.cfg.Watchdog,
	}.Command()
	if err != nil {
		recv.Close()
		return nil, fmt.Errorf("start generation %d: %w", g.n, err)
	}
	p, err := s.spawner.start(spawn.Config{
		Path:       path,
		Args:       g.args,
		Env:        env,
		Files:      s.fds,
		Stderr:     s.cfg.Stderr,
		PassStderr: passStderr,
		TailLines:  20,
		// Its own process group: a terminal's Ctrl-C reaches only the
		// supervisor, which decides, and a kill of the group at the drain
		// deadline takes the worker's helpers along.
		Setpgid: true,
		// If the supervisor dies, workers drain rather than linger
		// (Linux only; see spawner.go for the thread subtlety).
		DeathSignal: s.cfg.DrainSignal,
	})
	if err != nil {
		recv.Close()
		return nil, fmt.Errorf("start generation %d: %s: %w", g.n, g.exe.path, errors.Unwrap(err))
	}
	now := time.Now()
	w := &worker{gen: g, slot: slot, proc: p, recv: recv, started: now, deadline: now.Add(s.cfg.ReadyTimeout)}
	g.workers = append(g.workers, w)
	attrs := []any{"generation", g.n, "slot", slot, "pid", p.Pid, "path", g.exe.path}
	if from != 0 {
		attrs = append(attrs, "handover_from", from)
	}
	s.log.Info("handoff: worker started", attrs...)

	go func() {
		<-p.Done()
		s.post(func() { s.onExit(w) })
	}()
	go s.receive(w)
	s.armDeadline(w, s.cfg.ReadyTimeout)
	switch s.cfg.Ready.Kind {
	case ReadyDelay:
		time.AfterFunc(s.cfg.Ready.Delay, func() {
			s.post(func() { s.markReady(w, "alive for "+s.cfg.Ready.Delay.String()) })
		})
	case ReadyExec:
		go s.probe(w)
	}
	return w, nil
}

// armDeadline checks readiness after d; EXTEND_TIMEOUT_USEC may have moved
// the deadline meanwhile, in which case it checks again then.
func (s *Supervisor) armDeadline(w *worker, d time.Duration) {
	time.AfterFunc(d, func() {
		s.post(func() {
			if w.state != workerStarting {
				return
			}
			if left := time.Until(w.deadline); left > 0 {
				s.armDeadline(w, left)
				return
			}
			s.fail(w, "not ready within "+s.cfg.ReadyTimeout.String())
		})
	})
}

func (s *Supervisor) markReady(w *worker, how string) {
	if w.state != workerStarting {
		return
	}
	w.state = workerReady
	w.readyAt = time.Now()
	w.lastPing = w.readyAt
	s.log.Info("handoff: worker ready", "generation", w.gen.n, "pid", w.pid(), "after", w.readyAt.Sub(w.started).Round(time.Millisecond), "how", how)
	s.pokeUpgrade()
}

// fail gives up on a worker: records why, then kills its process group.
// Its exit arrives through onExit like any other.
func (s *Supervisor) fail(w *worker, why string) {
	if !w.alive() {
		return
	}
	if w.failure == "" {
		w.failure = why
	}
	s.log.Warn("handoff: killing worker", "generation", w.gen.n, "pid", w.pid(), "reason", why)
	killGroup(w)
}

// killGroup SIGKILLs the worker's process group (it leads one, see
// startWorker), the worker itself in case it left the group, and its
// MAINPID= process (tree.go).
func killGroup(w *worker) {
	endTree(w)
	w.proc.Signal(syscall.SIGKILL)
}

// drainWorker tells w to finish its work and exit, and kills its process
// group if it is still there after DrainTimeout.
func (s *Supervisor) drainWorker(w *worker) {
	if !w.alive() || w.state == workerDraining {
		return
	}
	if w.state == workerStarting {
		// It never served: nothing to drain.
		w.stopping = true
		w.watched = false
		s.fail(w, "not needed any more")
		return
	}
	w.state = workerDraining
	w.stopping = true
	w.watched = false
	s.signalWorker(w, s.cfg.DrainSignal)
	s.drainStarted(w) // metrics (ops.go)
	s.log.Info("handoff: draining worker", "generation", w.gen.n, "pid", w.pid(), "signal", unix.SignalName(s.cfg.DrainSignal))
	time.AfterFunc(s.cfg.DrainTimeout, func() {
		s.post(func() {
			if w.alive() {
				s.operations.metrics.DrainTimeout()
				s.fail(w, "still draining after "+s.cfg.DrainTimeout.String())
			}
		})
	})
}

// signalWorker sends sig to the worker and, when it named another main
// process with MAINPID=, to that one too.
func (s *Supervisor) signalWorker(w *worker, sig syscall.Signal) {
	w.proc.Signal(sig)
	w.signalMain(sig)
}

// describe says how a worker ended, with its last stderr lines. spawn's
// Tail waits for the stderr pipe to close, which a descendant that left
// the process group could hold open forever: bound the wait.
func describe(w *worker, failure string) string {
	ch := make(chan string, 1)
	go func() { ch <- w.proc.Describe() }()
	var d string
	select {
	case d = <-ch:
	case <-time.After(time.Second):
		if st := w.proc.State(); st != nil {
			d = st.String()
		} else {
			d = "still running"
		}
	}
	if failure != "" {
		return failure + " (" + d + ")"
	}
	return d
}

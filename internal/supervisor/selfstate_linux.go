package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/metrics"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/sockets"
	"github.com/handoff-go/handoff/internal/spawn"
	"github.com/handoff-go/handoff/internal/takeover"
)

// The state a supervisor hands to its own new binary at a self-upgrade
// (selfupgrade_linux.go): everything New and Run would otherwise build,
// with the descriptor numbers that survive the execve. Version first, as
// proto.SupervisorStateVersion; a new field that an older reader could
// ignore needs no new version, anything else does.
type selfState struct {
	Version  int       `json:"version"`
	PID      int       `json:"pid"`
	Program  string    `json:"program"`
	Started  time.Time `json:"started"`
	ReExecs  int       `json:"reexecs"`
	ReExecAt time.Time `json:"reexec_at"`

	Sockets   []stateSocket `json:"sockets"`
	ControlFD int           `json:"control_fd"` // -1: no control socket
	RunDir    string        `json:"run_dir"`
	// The takeover listener (Config.Takeover) and the inode of the socket
	// file it made, so the new image serves takeovers on (version 2; an
	// older reader would leave the descriptor open for every worker).
	TakeoverFD  int    `json:"takeover_fd"` // -1: none
	TakeoverIno uint64 `json:"takeover_ino,omitempty"`

	LastGen int              `json:"last_gen"`
	Retired int              `json:"retired"`
	Served  bool             `json:"served"`
	Idle    bool             `json:"idle"`
	Last    *control.Upgrade `json:"last,omitempty"`

	Exes []stateExe `json:"exes"`
	Gens []stateGen `json:"gens"`

	Metrics metrics.Counts `json:"metrics"`
}

type stateSocket struct {
	Name      string `json:"name"`
	FD        int    `json:"fd"`
	Desc      string `json:"desc"`
	Inherited bool   `json:"inherited,omitempty"`
	Stored    bool   `json:"stored,omitempty"`
	Unlink    string `json:"unlink,omitempty"` // socket file to remove at release
}

// stateExe is a held executable. FD keeps its number across the exec, so
// the /proc/<pid>/fd/N links that rollbacks and crash restarts exec
// through stay valid (the pid does not change either).
type stateExe struct {
	Path    string `json:"path"`
	Sum     string `json:"sum,omitempty"`
	FD      int    `json:"fd"` // -1: kept by path only
	Target  string `json:"target,omitempty"`
	LinkDir string `json:"link_dir,omitempty"`
}

type stateGen struct {
	N          int           `json:"n"`
	Exe        int           `json:"exe"` // index into Exes
	Args       []string      `json:"args"`
	Started    time.Time     `json:"started"`
	RollbackOf int           `json:"rollback_of,omitempty"`
	Workers    []stateWorker `json:"workers"`
}

type stateWorker struct {
	Slot          int       `json:"slot"`
	InSlot        bool      `json:"in_slot,omitempty"`
	PID           int       `json:"pid"`
	Started       time.Time `json:"started"`
	State         string    `json:"state"` // "ready" or "draining"
	ReadyAt       time.Time `json:"ready_at"`
	LastPing      time.Time `json:"last_ping"`
	DrainAt       time.Time `json:"drain_at,omitzero"`
	MainPID       int       `json:"main_pid,omitempty"`
	MainStart     uint64    `json:"main_start,omitempty"`
	Status        string    `json:"status,omitempty"`
	Errno         int       `json:"errno,omitempty"`
	Handover      string    `json:"handover,omitempty"`
	HandoverState bool      `json:"handover_state,omitempty"`
	Crashes       int       `json:"crashes,omitempty"`
	Restarts      int       `json:"restarts,omitempty"`
	NotifyFD      int       `json:"notify_fd"`
	NotifyPath    string    `json:"notify_path"`
	StderrFD      int       `json:"stderr_fd"` // -1: no pipe
	StderrPassed  int       `json:"stderr_passed"`
	Tail          string    `json:"tail,omitempty"`
}

// handover is what a snapshot needs passed across the exec: the document,
// the descriptors to clear close-on-exec on just before it (keep), and the
// duplicates made for it, closed if the exec fails (dups).
type handover struct {
	state selfState
	keep  []int
	dups  []int
}

func (h *handover) dup(fd int, err error) (int, error) {
	if err == nil && fd >= 0 {
		h.dups = append(h.dups, fd)
		h.keep = append(h.keep, fd)
	}
	return fd, err
}

// abort closes the duplicates of a handover that will not happen.
func (h *handover) abort() {
	for _, fd := range h.dups {
		unix.Close(fd)
	}
}

// snapshot captures the loop's state for the new binary. It runs on the
// loop, which stays blocked until the exec: nothing changes meanwhile.
func (s *Supervisor) snapshot() (*handover, error) {
	h := &handover{}
	st := &h.state
	*st = selfState{Version: proto.SupervisorStateVersion, PID: pid(), Program: s.cfg.Program,
		Started: s.startAt, ReExecs: s.reexecs + 1, ReExecAt: time.Now(), ControlFD: -1, TakeoverFD: -1, RunDir: s.runDir,
		LastGen: s.lastGen, Retired: s.retired, Served: s.served, Idle: s.idle, Last: s.last,
		Metrics: s.operations.metrics.Counts()}
	for _, b := range s.sockets {
		ss := stateSocket{Name: b.spec.Name, FD: b.fd, Desc: b.desc, Inherited: b.inherited, Stored: b.stored, Unlink: b.unlink}
		if b.spec.Network == "unix" && !b.inherited && !b.stored {
			ss.Unlink = b.spec.Address
		}
		h.keep = append(h.keep, b.fd)
		st.Sockets = append(st.Sockets, ss)
	}
	if s.ctl != nil {
		rc, err := s.ctl.SyscallConn()
		if err == nil {
			st.ControlFD, err = h.dup(sockets.Dup(rc))
		}
		if err != nil {
			h.abort()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	if s.tk != nil {
		fd, ino, err := s.tk.path.DupListener()
		if st.TakeoverFD, err = h.dup(fd, err); err != nil {
			h.abort()
			return nil, fmt.Errorf("takeover socket: %w", err)
		}
		st.TakeoverIno = ino
	}
	exeIndex := map[*executable]int{}
	for _, g := range s.gens {
		i, ok := exeIndex[g.exe]
		if !ok {
			i = len(st.Exes)
			exeIndex[g.exe] = i
			se := stateExe{Path: g.exe.path, Sum: g.exe.sum, FD: -1, Target: g.exe.held.path, LinkDir: g.exe.held.link}
			if f := g.exe.held.f; f != nil {
				se.FD = int(f.Fd()) // a regular file: Fd() flips nothing
				h.keep = append(h.keep, se.FD)
			}
			st.Exes = append(st.Exes, se)
		}
		sg := stateGen{N: g.n, Exe: i, Args: g.args, Started: g.started, RollbackOf: g.rollbackOf}
		for _, w := range g.workers {
			if !w.alive() {
				continue
			}
			sw := stateWorker{Slot: w.slot, InSlot: s.slots[w.slot] == w, PID: w.pid(), Started: w.started,
				State: w.state.String(), ReadyAt: w.readyAt, LastPing: w.lastPing, DrainAt: s.operations.drains[w],
				MainPID: w.mainPID, MainStart: w.main.start, Status: w.status, Errno: w.errno,
				Handover: w.handover, HandoverState: w.handoverState, Crashes: w.crashes, Restarts: w.restarts,
				NotifyPath: w.recv.Path(), StderrPassed: w.proc.StderrFD, Tail: w.proc.TailText()}
			var err error
			if sw.NotifyFD, err = h.dup(w.recv.Dup()); err == nil {
				sw.StderrFD, err = h.dup(w.proc.DupStderr())
			}
			if err != nil {
				h.abort()
				return nil, fmt.Errorf("worker %d: %w", w.pid(), err)
			}
			sg.Workers = append(sg.Workers, sw)
		}
		st.Gens = append(st.Gens, sg)
	}
	return h, nil
}

// writeState puts the document in a memfd (close-on-exec until the caller
// clears it with the rest) and returns its descriptor.
func writeState(st *selfState) (int, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return -1, err
	}
	fd, err := unix.MemfdCreate("handoff-supervisor-state", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	for off := 0; off < len(b); {
		n, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("write state: %w", err)
		}
		off += n
	}
	return fd, nil
}

// takeSelfState reads the state a supervisor handed to this process, its
// new binary, and removes the variable that named it; nil when this
// process was started afresh.
func takeSelfState() (*selfState, error) {
	v, ok := os.LookupEnv(proto.EnvSupervisorState)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(proto.EnvSupervisorState)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: not a descriptor", proto.EnvSupervisorState, v)
	}
	f := os.NewFile(uintptr(fd), "supervisor state")
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read supervisor state: %w", err)
	}
	var st selfState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read supervisor state: %w", err)
	}
	if st.Version != proto.SupervisorStateVersion {
		return nil, fmt.Errorf("supervisor state version %d: this binary reads %d", st.Version, proto.SupervisorStateVersion)
	}
	if st.PID != pid() {
		return nil, fmt.Errorf("supervisor state of pid %d, this is pid %d", st.PID, pid())
	}
	return &st, nil
}

// resumeResources takes back, in New, what New would otherwise bind and
// create: the listeners (in --listen order, checked by name), the control
// socket and the run directory.
func (s *Supervisor) resumeResources(st *selfState) error {
	if len(st.Sockets) != len(s.cfg.Listeners) {
		return fmt.Errorf("%d sockets handed over, %d --listen", len(st.Sockets), len(s.cfg.Listeners))
	}
	for i, ss := range st.Sockets {
		spec := s.cfg.Listeners[i]
		if ss.Name != spec.Name {
			return fmt.Errorf("socket %d handed over as %q, --listen names it %q", i, ss.Name, spec.Name)
		}
		unix.CloseOnExec(ss.FD)
		b := &boundSocket{spec: spec, fd: ss.FD, desc: ss.Desc, closer: nopCloser{}, unlink: ss.Unlink,
			inherited: ss.Inherited, stored: ss.Stored}
		s.sockets = append(s.sockets, b)
		s.fds = append(s.fds, b.fd)
		s.names = append(s.names, spec.Name)
	}
	if st.ControlFD >= 0 {
		ln, err := adoptUnixListener(st.ControlFD, s.cfg.Control)
		if err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
		s.ctl = ln
	}
	s.resumeTakeover(st)
	s.runDir = st.RunDir
	s.startAt = st.Started
	s.reexecs, s.reexecAt = st.ReExecs, st.ReExecAt
	s.operations.metrics.Restore(st.Metrics)
	s.resumed = st
	return nil
}

// resumeTakeover takes the takeover listener back (Run serves it again).
// Without one (the previous image did not listen yet) the path is
// listened on when the first generation gets ready, as at any start.
func (s *Supervisor) resumeTakeover(st *selfState) {
	if s.cfg.Takeover == "" {
		if st.TakeoverFD >= 0 {
			unix.Close(st.TakeoverFD)
		}
		return
	}
	s.tk = &takeoverSide{path: takeover.New(s.cfg.Takeover)}
	if st.TakeoverFD < 0 {
		return
	}
	ln, err := s.tk.path.Adopt(st.TakeoverFD, st.TakeoverIno)
	if err != nil {
		s.log.Error("handoff: self-upgrade: no takeover socket: nobody can take over from this supervisor", "path", s.cfg.Takeover, "err", err)
		return
	}
	s.tk.resumed = ln
}

// adoptWorkers rebuilds the generations and workers from the state, at
// the start of Run, before the orphan reaper starts: every inherited child
// is known to the spawner first, so the reaper never takes an exit status
// that a worker's waiter is owed.
func (s *Supervisor) adoptWorkers(st *selfState) {
	s.lastGen, s.retired, s.served, s.idle, s.last = st.LastGen, st.Retired, st.Served, st.Idle, st.Last
	exes := make([]*executable, len(st.Exes))
	for i, se := range st.Exes {
		e := &executable{path: se.Path, sum: se.Sum, held: heldFile{path: se.Target, link: se.LinkDir}}
		if se.FD >= 0 {
			unix.CloseOnExec(se.FD)
			e.held.f = os.NewFile(uintptr(se.FD), se.Path)
		}
		exes[i] = e
	}
	for _, sg := range st.Gens {
		if sg.Exe < 0 || sg.Exe >= len(exes) {
			s.log.Error("handoff: self-upgrade: generation with no executable", "generation", sg.N)
			continue
		}
		g := &generation{n: sg.N, exe: exes[sg.Exe], args: sg.Args, started: sg.Started, rollbackOf: sg.RollbackOf}
		s.exeRefs[g.exe]++
		s.gens = append(s.gens, g)
		for _, sw := range sg.Workers {
			s.adoptWorker(g, sw)
		}
	}
	for _, e := range exes {
		if s.exeRefs[e] == 0 {
			e.release()
		}
	}
	s.prune()
}

func (s *Supervisor) adoptWorker(g *generation, sw stateWorker) {
	recv, err := launch.NotifyFromFD(sw.NotifyFD, sw.NotifyPath)
	if err != nil {
		// The worker keeps serving; only its notifications are lost.
		s.log.Error("handoff: self-upgrade: notify socket of a worker", "pid", sw.PID, "err", err)
		if recv, err = listenWorkerNotify(s.runDir); err != nil {
			s.log.Error("handoff: self-upgrade: cannot adopt worker", "pid", sw.PID, "err", err)
			return
		}
	}
	gone := false
	if st, ok := launch.ReadProcStat(sw.PID); !ok || st.PPID != pid() {
		gone = true // reaped in the instant before the exec; the pid may be another process's now
	}
	p, err := spawn.Adopt(spawn.Adopted{Pid: sw.PID, StderrFD: sw.StderrFD, Stderr: s.cfg.Stderr, TailLines: 20,
		Tail: sw.Tail, StderrPassed: sw.StderrPassed, Gone: gone})
	if err != nil {
		recv.Close()
		s.log.Error("handoff: self-upgrade: cannot adopt worker", "pid", sw.PID, "err", err)
		return
	}
	w := &worker{gen: g, slot: sw.Slot, proc: p, recv: recv, started: sw.Started, readyAt: sw.ReadyAt,
		lastPing: sw.LastPing, mainPID: sw.MainPID, main: procID{pid: sw.MainPID, start: sw.MainStart},
		status: sw.Status, errno: sw.Errno, handover: sw.Handover, handoverState: sw.HandoverState,
		crashes: sw.Crashes, restarts: sw.Restarts, reported: true, gone: gone}
	w.deadline = w.started
	w.state = workerReady
	if sw.State == workerDraining.String() {
		w.state, w.stopping = workerDraining, true
		at := sw.DrainAt
		if at.IsZero() {
			at = time.Now()
		}
		s.operations.drains[w] = at
		left := time.Until(at.Add(s.cfg.DrainTimeout))
		time.AfterFunc(max(left, 0), func() {
			s.post(func() {
				if w.alive() {
					s.operations.metrics.DrainTimeout()
					s.fail(w, "still draining after "+s.cfg.DrainTimeout.String())
				}
			})
		})
	}
	s.spawner.adopt(p)
	g.workers = append(g.workers, w)
	if sw.InSlot && sw.Slot >= 0 && sw.Slot < len(s.slots) {
		s.slots[sw.Slot] = w
	}
	s.log.Info("handoff: worker adopted", "generation", g.n, "slot", sw.Slot, "pid", sw.PID, "state", w.state.String())
	go func() {
		<-p.Done()
		s.post(func() { s.onExit(w) })
	}()
	go s.receive(w)
}

var errSelfBusy = errors.New("busy")

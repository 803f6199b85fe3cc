//go:build unix

package supervisor

import (
	"os"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/control"
)

func pid() int { return os.Getpid() }

func sigName(sig syscall.Signal) string { return unix.SignalName(sig) }

// status builds the control.Status; it runs on the loop.
func (s *Supervisor) status() control.Status {
	st := control.Status{
		PID:       pid(),
		Started:   s.startAt,
		Program:   s.cfg.Program,
		Args:      s.cfg.Args,
		Listeners: s.Sockets(),
		State:     "serving",
		Supervisor: &control.SupervisorInfo{Version: s.cfg.Version, Executable: s.self,
			ReExecs: s.reexecs, ReExecAt: s.reexecAt},
	}
	switch {
	case s.stopping:
		st.State = "stopping"
	case s.idle:
		st.State = "idle"
	case !s.served:
		st.State = "starting"
	case s.upgrade != nil:
		st.State = "upgrading"
	}
	gens := append([]*generation(nil), s.gens...)
	sort.Slice(gens, func(i, j int) bool { return gens[i].n > gens[j].n })
	now := time.Now()
	for _, g := range gens {
		cg := control.Generation{Number: g.n, State: s.genState(g), Path: g.exe.path, Started: g.started,
			SHA256: g.exe.sum, Age: now.Sub(g.started).Round(time.Second).String(), RollbackOf: g.rollbackOf}
		for _, w := range g.workers {
			if !w.alive() {
				continue
			}
			cw := control.Worker{
				PID:      w.pid(),
				State:    w.state.String(),
				Started:  w.started,
				Uptime:   now.Sub(w.started).Round(time.Second).String(),
				Restarts: w.restarts,
				Status:   w.status,
				Errno:    w.errno,
			}
			if w.mainPID != w.pid() {
				cw.MainPID = w.mainPID
			}
			cw.Handover, cw.HandoverState = w.handover, w.handoverState
			cg.Workers = append(cg.Workers, cw)
		}
		if len(cg.Workers) > 0 || s.inSlots(g) {
			st.Generations = append(st.Generations, cg)
		}
	}
	if s.last != nil {
		l := *s.last
		st.LastUpgrade = &l
	}
	return st
}

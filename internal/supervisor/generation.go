//go:build unix

package supervisor

import "time"

// generation is one version of the program: the bytes it runs and its
// workers. Owned by the loop.
type generation struct {
	n       int
	exe     *executable
	args    []string
	started time.Time
	workers []*worker // every worker started for it, exited ones pruned
	// probation is set while an upgrade watches it.
	probation bool
	// rollbackOf is the generation whose program this one runs again.
	rollbackOf int
	// owned: an upgrade is still working with it (it may have no worker
	// yet). prune must keep it: releasing its executable would close the
	// descriptor its workers are about to be exec'd through, and a reused
	// descriptor number could even start other bytes.
	owned bool
}

func (s *Supervisor) newGeneration(exe *executable, rollbackOf int) *generation {
	s.lastGen++
	g := &generation{n: s.lastGen, exe: exe, args: s.cfg.Args, started: time.Now(), rollbackOf: rollbackOf, owned: true}
	s.exeRefs[exe]++
	s.gens = append(s.gens, g)
	return g
}

// inSlots reports whether a worker of g holds a slot (it serves, or is
// restarting after a crash).
func (s *Supervisor) inSlots(g *generation) bool {
	for _, w := range s.slots {
		if w != nil && w.gen == g {
			return true
		}
	}
	return false
}

func (g *generation) alive() int {
	n := 0
	for _, w := range g.workers {
		if w.alive() {
			n++
		}
	}
	return n
}

// state is derived, never stored, so it cannot go stale.
func (s *Supervisor) genState(g *generation) string {
	switch {
	case s.inSlots(g) && g.probation:
		return "probation"
	case s.inSlots(g):
		return "serving"
	}
	for _, w := range g.workers {
		if w.state == workerStarting {
			return "starting"
		}
	}
	if g.alive() > 0 {
		return "draining"
	}
	return "stopped"
}

// draining lists the generations that only drain: alive, no slot, nothing
// starting.
func (s *Supervisor) draining() []*generation {
	var out []*generation
	for _, g := range s.gens {
		if s.genState(g) == "draining" {
			out = append(out, g)
		}
	}
	return out
}

// serving returns the generation of the first occupied slot, or nil.
func (s *Supervisor) serving() *generation {
	for _, w := range s.slots {
		if w != nil {
			return w.gen
		}
	}
	return nil
}

// prune forgets generations with no process left and no slot, and closes
// executables nothing refers to any more.
func (s *Supervisor) prune() {
	kept := s.gens[:0]
	for _, g := range s.gens {
		if g.alive() > 0 || s.inSlots(g) || g.probation || g.owned {
			live := g.workers[:0]
			for _, w := range g.workers {
				if w.alive() || s.slots[w.slot] == w {
					live = append(live, w)
				}
			}
			g.workers = live
			kept = append(kept, g)
			continue
		}
		s.unref(g.exe)
	}
	for i := len(kept); i < len(s.gens); i++ {
		s.gens[i] = nil
	}
	s.gens = kept
}

// disown ends an upgrade's hold on g, which may then be pruned.
func (s *Supervisor) disown(g *generation) {
	g.owned = false
	s.prune()
}

func (s *Supervisor) unref(e *executable) {
	s.exeRefs[e]--
	if s.exeRefs[e] <= 0 {
		delete(s.exeRefs, e)
		e.release()
	}
}

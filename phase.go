package handoff

import "strconv"

// Phase is where a generation is in its life. Phase changes happen in one
// place, setPhaseLocked, which refuses a move the table below does not
// allow.
type Phase int

// The phases of a generation, in order. An upgrade moves PhaseServing to
// PhaseUpgrading, then (once the new generation is ready) PhaseProbation,
// then PhaseDraining; a failed upgrade or a rollback returns to
// PhaseServing. A stop signal or Drain moves any phase but PhaseStopped to
// PhaseDraining, and Stop ends every phase in PhaseStopped.
const (
	PhaseStarting  Phase = iota // New returned; Ready not yet called
	PhaseServing                // Ready called: accepting, may upgrade
	PhaseUpgrading              // a new generation is starting; this one still accepts
	PhaseProbation              // the new generation is ready; this one holds its sockets without accepting
	PhaseDraining               // this generation is finishing its work and will exit
	PhaseStopped                // Stop was called
)

// String returns the phase's name in lower case ("serving").
func (p Phase) String() string {
	switch p {
	case PhaseStarting:
		return "starting"
	case PhaseServing:
		return "serving"
	case PhaseUpgrading:
		return "upgrading"
	case PhaseProbation:
		return "probation"
	case PhaseDraining:
		return "draining"
	case PhaseStopped:
		return "stopped"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// transitions lists, for each phase, the phases it may move to.
var transitions = [...][]Phase{
	PhaseStarting:  {PhaseServing, PhaseDraining, PhaseStopped},
	PhaseServing:   {PhaseUpgrading, PhaseDraining, PhaseStopped},
	PhaseUpgrading: {PhaseServing, PhaseProbation, PhaseDraining, PhaseStopped},
	PhaseProbation: {PhaseServing, PhaseDraining, PhaseStopped},
	PhaseDraining:  {PhaseStopped},
	PhaseStopped:   nil,
}

func legalMove(from, to Phase) bool {
	if from < 0 || int(from) >= len(transitions) {
		return false
	}
	for _, p := range transitions[from] {
		if p == to {
			return true
		}
	}
	return false
}

// Phase returns the current phase, and a channel closed at the next change.
func (h *Handoff) Phase() (Phase, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.phase, h.changed
}

// setPhaseLocked moves to phase to, if the table allows it from the
// current phase, and wakes everyone waiting on Phase's channel. An illegal
// move is refused and logged at Error level: it is a bug here, and obeying
// it (say, accepting again after a drain began) could fail requests. It
// reports whether the phase is now to. Called with h.mu held.
func (h *Handoff) setPhaseLocked(to Phase) bool {
	from := h.phase
	if from == to {
		return true
	}
	if !legalMove(from, to) {
		h.log.Error("handoff: illegal phase change refused", "from", from, "to", to)
		return false
	}
	h.log.Debug("handoff: phase", "from", from, "to", to)
	h.phase = to
	close(h.changed)
	h.changed = make(chan struct{})
	return true
}

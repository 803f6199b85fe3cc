package handoff

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/testserver"
)

// Every phase change goes through the table: the moves a generation makes
// are allowed, and one that would, say, accept again after the drain began
// is refused, leaves the phase alone and is logged at Error.
func TestSetPhase_RefusesAndLogsIllegalMoves(t *testing.T) {
	var logs testserver.SyncBuffer
	h := newPlain(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	path := []Phase{PhaseServing, PhaseUpgrading, PhaseProbation, PhaseServing, PhaseUpgrading, PhaseServing, PhaseDraining, PhaseStopped}
	for _, to := range path {
		h.mu.Lock()
		from := h.phase
		changed := h.changed
		ok := h.setPhaseLocked(to)
		h.mu.Unlock()
		if !ok {
			t.Fatalf("legal move %s -> %s refused", from, to)
		}
		select {
		case <-changed:
		default:
			t.Fatalf("move %s -> %s did not close the Phase channel", from, to)
		}
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("legal moves logged an error:\n%s", logs.String())
	}

	illegal := [][2]Phase{
		{PhaseDraining, PhaseServing},
		{PhaseDraining, PhaseProbation},
		{PhaseStopped, PhaseDraining},
		{PhaseStopped, PhaseServing},
		{PhaseStarting, PhaseProbation},
		{PhaseServing, PhaseStarting},
		{PhaseServing, PhaseProbation},
	}
	for _, m := range illegal {
		h := newPlain(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		h.phase = m[0]
		h.mu.Lock()
		ok := h.setPhaseLocked(m[1])
		got := h.phase
		h.mu.Unlock()
		if ok || got != m[0] {
			t.Fatalf("illegal move %s -> %s: ok=%v, phase now %s", m[0], m[1], ok, got)
		}
		if !strings.Contains(logs.String(), "level=ERROR msg=\"handoff: illegal phase change refused\" from="+m[0].String()+" to="+m[1].String()) {
			t.Fatalf("illegal move %s -> %s not logged at Error:\n%s", m[0], m[1], logs.String())
		}
	}
}

// Drain and Stop are safe in any phase and in any order: neither is an
// illegal move.
func TestDrainAndStopInAnyOrder_NoIllegalMove(t *testing.T) {
	var logs testserver.SyncBuffer
	h := newPlain(Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h.Drain()
	h.Stop()
	h.Drain()
	h.Stop()
	if p, _ := h.Phase(); p != PhaseStopped {
		t.Fatalf("phase %s", p)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("Drain/Stop logged an error:\n%s", logs.String())
	}
}

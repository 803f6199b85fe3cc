package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Family is one metric's name, help and labels: the one place each name is
// spelled, for the supervisor (supervisor.go) and the library's collector
// (the root package's metrics.go) alike.
type Family struct {
	Name, Help string
	Labels     []string
}

// Desc is the family's descriptor, for a collector that builds its
// samples at scrape time.
func (f Family) Desc() *prometheus.Desc { return prometheus.NewDesc(f.Name, f.Help, f.Labels, nil) }

// Families both the supervisor and the library export.
var (
	Upgrades = Family{"handoff_upgrades_total",
		"Upgrade and reload requests by result: done, failed, rolled_back, refused (nothing started), coalesced (joined another).",
		[]string{"kind", "result"}}
	Phase = Family{"handoff_upgrade_phase_seconds",
		"Duration of each phase of upgrades: start_to_ready, probation, total; drain is one old worker's (the library: one generation's), from the drain signal to its exit (the library: to Stop).",
		[]string{"phase"}}
	LastSuccess = Family{"handoff_last_upgrade_success",
		"1 if the last finished upgrade or reload left its new generation serving, 0 if not.", nil}
	LastTime = Family{"handoff_last_upgrade_timestamp_seconds",
		"Unix time the last upgrade or reload finished.", nil}
	Generation = Family{"handoff_generation", "Number of the serving generation (0: none).", nil}
	Build      = Family{"handoff_build_info",
		"The serving generation's program (path and SHA-256); always 1.", []string{"program", "sha256"}}
)

// Families only the library exports: what its drains and handovers did.
var (
	Migrated = Family{"handoff_connections_migrated_total",
		"Connections passed alive to the next generation: idle HTTP/1.1 keep-alive ones by the drain, and the program's own (PassConns).", nil}
	FellBack = Family{"handoff_connections_fell_back_total",
		"HTTP/1.1 connections that were to move to the next generation but drained in their own instead (Connection: close, or closed after a quiet DrainIdle).", nil}
	Cut = Family{"handoff_connections_cut_total",
		"HTTP connections still open at the drain timeout or a second stop signal, closed.", nil}
	StateBytes = Family{"handoff_state_bytes_total",
		"Bytes of state (Options.SaveState) handed over to a next generation that accepted them.", nil}
)

// Timestamp is at as LastTime reports it: Unix seconds, a wall-clock
// time by design (Prometheus compares it with its own clock), never a
// deadline.
func Timestamp(at time.Time) float64 { return float64(at.UnixNano()) / 1e9 }

// PhaseBuckets are the buckets of Phase, in seconds.
var PhaseBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// Results an upgrade is counted under (Upgrades' result label).
const (
	ResultDone       = "done"
	ResultFailed     = "failed"
	ResultRolledBack = "rolled_back"
	ResultCoalesced  = "coalesced"
	ResultRefused    = "refused"
)

// Results lists every result, in the order scrapes show them.
var Results = []string{ResultDone, ResultFailed, ResultRolledBack, ResultCoalesced, ResultRefused}

// Phases of an upgrade (Phase's phase label).
const (
	PhaseStartToReady = "start_to_ready"
	PhaseProbation    = "probation"
	PhaseDrain        = "drain"
	PhaseTotal        = "total"
)

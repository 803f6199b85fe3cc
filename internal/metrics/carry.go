package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Counts is what a supervisor's counters and last-upgrade gauges hold:
// what it hands to its own new binary at a self-upgrade, so the totals go
// on instead of starting at 0 (the histograms do start again).
type Counts struct {
	Upgrades    map[string]float64 `json:"upgrades,omitempty"` // "kind/result"
	Refusals    map[string]float64 `json:"refusals,omitempty"` // by reason
	Restarts    float64            `json:"restarts,omitempty"`
	CrashLoops  float64            `json:"crash_loops,omitempty"`
	DrainKills  float64            `json:"drain_kills,omitempty"`
	LastSuccess float64            `json:"last_success,omitempty"`
	LastTime    float64            `json:"last_time,omitempty"`
}

// Counts reads the counters and gauges that Restore sets. It never calls
// the snapshot function given to NewSupervisor.
func (m *Supervisor) Counts() Counts {
	c := Counts{Upgrades: map[string]float64{}, Refusals: map[string]float64{}}
	// A registry of these alone: m.reg also holds the state collector,
	// which asks the supervisor's loop, and Counts runs on that loop.
	r := prometheus.NewRegistry()
	for _, col := range []prometheus.Collector{m.upgrades, m.refusals, m.restarts, m.crashLoops, m.drainKills, m.lastSuccess, m.lastTime} {
		r.Register(col)
	}
	mfs, err := r.Gather()
	if err != nil {
		return c
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			v := mt.GetCounter().GetValue()
			switch mf.GetName() {
			case "handoff_upgrades_total":
				if v > 0 {
					c.Upgrades[labels["kind"]+"/"+labels["result"]] = v
				}
			case "handoff_upgrade_refusals_total":
				c.Refusals[labels["reason"]] = v
			case "handoff_worker_restarts_total":
				c.Restarts = v
			case "handoff_crash_loops_total":
				c.CrashLoops = v
			case "handoff_drain_timeouts_total":
				c.DrainKills = v
			case "handoff_last_upgrade_success":
				c.LastSuccess = mt.GetGauge().GetValue()
			case "handoff_last_upgrade_timestamp_seconds":
				c.LastTime = mt.GetGauge().GetValue()
			}
		}
	}
	return c
}

// Restore adds c to the counters and sets the gauges: it is meant for a
// fresh Supervisor, whose counters are 0.
func (m *Supervisor) Restore(c Counts) {
	for k, v := range c.Upgrades {
		if kind, result, ok := strings.Cut(k, "/"); ok && v > 0 {
			m.upgrades.WithLabelValues(kind, result).Add(v)
		}
	}
	for reason, v := range c.Refusals {
		if v > 0 {
			m.refusals.WithLabelValues(reason).Add(v)
		}
	}
	for _, x := range []struct {
		add func(float64)
		v   float64
	}{{m.restarts.Add, c.Restarts}, {m.crashLoops.Add, c.CrashLoops}, {m.drainKills.Add, c.DrainKills}} {
		if x.v > 0 {
			x.add(x.v)
		}
	}
	if c.LastTime > 0 {
		m.lastSuccess.Set(c.LastSuccess)
		m.lastTime.Set(c.LastTime)
	}
}

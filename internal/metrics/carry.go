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
	for _, s := range samples(m.upgrades) {
		if s.value > 0 {
			c.Upgrades[s.labels["kind"]+"/"+s.labels["result"]] = s.value
		}
	}
	for _, s := range samples(m.refusals) {
		c.Refusals[s.labels["reason"]] = s.value
	}
	one := func(col prometheus.Collector) float64 {
		if ss := samples(col); len(ss) == 1 {
			return ss[0].value
		}
		return 0
	}
	c.Restarts, c.CrashLoops, c.DrainKills = one(m.restarts), one(m.crashLoops), one(m.drainKills)
	c.LastSuccess, c.LastTime = one(m.lastSuccess), one(m.lastTime)
	return c
}

type sample struct {
	labels map[string]string
	value  float64 // a counter's or a gauge's
}

// samples gathers col alone, on a registry of its own: m.reg also holds the
// state collector, which asks the supervisor's loop, and Counts runs on
// that loop.
func samples(col prometheus.Collector) []sample {
	r := prometheus.NewRegistry()
	if r.Register(col) != nil {
		return nil
	}
	mfs, err := r.Gather()
	if err != nil {
		return nil
	}
	var out []sample
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			s := sample{labels: map[string]string{}, value: mt.GetCounter().GetValue() + mt.GetGauge().GetValue()}
			for _, l := range mt.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			out = append(out, s)
		}
	}
	return out
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

package loadgen

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Duration is a time.Duration that marshals to JSON as a number of
// milliseconds (fields are named *_ms), which is what dashboards and jq
// scripts want, instead of Go's integer nanoseconds.
type Duration time.Duration

// MarshalJSON writes milliseconds with microsecond precision.
func (d Duration) MarshalJSON() ([]byte, error) {
	ms := math.Round(float64(d)/1e3) / 1e3
	return strconv.AppendFloat(nil, ms, 'f', -1, 64), nil
}

// UnmarshalJSON reads milliseconds, so that a saved report can be loaded
// back (e.g. to compare runs).
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	ms, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return fmt.Errorf("loadgen: bad duration %s", b)
	}
	*d = Duration(ms * 1e6)
	return nil
}

// String formats like time.Duration, rounded for tables.
func (d Duration) String() string {
	t := time.Duration(d)
	switch a := t.Abs(); {
	case a >= time.Second:
		return t.Round(time.Millisecond).String()
	case a >= time.Millisecond:
		return t.Round(10 * time.Microsecond).String()
	}
	return t.Round(time.Microsecond).String()
}

// LatencySummary describes the latencies of successful requests.
type LatencySummary struct {
	Count uint64   `json:"count"`
	Min   Duration `json:"min_ms"`
	Mean  Duration `json:"mean_ms"`
	P50   Duration `json:"p50_ms"`
	P90   Duration `json:"p90_ms"`
	P99   Duration `json:"p99_ms"`
	P999  Duration `json:"p999_ms"`
	Max   Duration `json:"max_ms"`
}

func summarize(h *Histogram) LatencySummary {
	return LatencySummary{
		Count: h.Count(),
		Min:   Duration(h.Min()),
		Mean:  Duration(h.Mean()),
		P50:   Duration(h.Quantile(0.50)),
		P90:   Duration(h.Quantile(0.90)),
		P99:   Duration(h.Quantile(0.99)),
		P999:  Duration(h.Quantile(0.999)),
		Max:   Duration(h.Max()),
	}
}

// UpgradeReport describes one upgrade and the requests around it: those
// that started between its trigger and Settle after it completed.
type UpgradeReport struct {
	Index  int           `json:"index"` // 1-based
	Label  string        `json:"label,omitempty"`
	At     Duration      `json:"at_ms"`   // trigger, since the load started
	Took   Duration      `json:"took_ms"` // trigger to completion
	Error  string        `json:"error,omitempty"`
	Result UpgradeResult `json:"result"`

	Requests   int64    `json:"requests"`
	Failures   int64    `json:"failures"`
	Outcomes   Outcomes `json:"outcomes"`
	Cuts       int64    `json:"cuts"` // held connections cut in the window
	MaxLatency Duration `json:"max_latency_ms"`

	// OldPIDs were serving when the upgrade was triggered; NewPIDs started
	// answering after the trigger (and before the next one). The pids the
	// upgrade function reported are used when they answered; otherwise see
	// the heuristic in generations.
	OldPIDs []int `json:"old_pids"`
	NewPIDs []int `json:"new_pids"`
	// FirstNewPID is the time from the trigger to the first answer from a
	// new pid; absent if no new pid answered before the next trigger.
	FirstNewPID *Duration `json:"first_new_pid_ms,omitempty"`
	// LastOldPID is the time from the trigger to the last answer from an
	// old pid (before the next trigger); absent if none answered after the
	// trigger.
	LastOldPID *Duration `json:"last_old_pid_ms,omitempty"`
}

// PIDReport counts the requests one server process answered, proving that
// every generation served.
type PIDReport struct {
	PID      int      `json:"pid"`
	Requests int64    `json:"requests"`
	First    Duration `json:"first_ms"` // first answer, since the load started
	Last     Duration `json:"last_ms"`  // last answer
}

// HoldReport describes the held connections.
type HoldReport struct {
	Conns    int      `json:"conns"`
	Interval Duration `json:"interval_ms"`
	Cuts     int64    `json:"cuts"`
}

// Report is the result of a run. It marshals to JSON as is (for --json);
// WriteTable prints it for people.
type Report struct {
	URL          string  `json:"url"`
	Mode         Mode    `json:"mode"`
	Method       string  `json:"method"`
	Path         string  `json:"path"`
	SlowPath     string  `json:"slow_path,omitempty"`
	SlowFraction float64 `json:"slow_fraction,omitempty"`
	Clients      int     `json:"clients"`

	Started time.Time `json:"started"`
	Elapsed Duration  `json:"elapsed_ms"`
	Aborted bool      `json:"aborted,omitempty"` // the context was cancelled

	Requests           int64    `json:"requests"`
	Failures           int64    `json:"failures"`
	Outcomes           Outcomes `json:"outcomes"`
	FailuresPerMillion float64  `json:"failures_per_million"`
	RPS                float64  `json:"rps"`
	// SteadyFailures failed outside every upgrade window.
	SteadyFailures int64 `json:"steady_failures"`
	// Cuts counts held connections the server closed or reset under us,
	// other than after a response carrying Connection: close: while idle,
	// or by failing a request with EOF or a reset (that request is also
	// counted in Failures). An idle cut costs a real client only a
	// reconnect, so it does not fail OK; callers who promise to keep
	// connections can demand Cuts == 0.
	Cuts int64 `json:"cuts"`

	Steady   LatencySummary  `json:"latency_steady"`
	Upgrade  LatencySummary  `json:"latency_upgrades"` // requests around upgrades
	Upgrades []UpgradeReport `json:"upgrades"`

	PIDs []PIDReport `json:"pids"`
	// UnknownPID counts answered requests whose server pid was not
	// given (no X-Pid header, no number on the body's first line).
	UnknownPID int64 `json:"unknown_pid"`

	Hold *HoldReport `json:"hold,omitempty"`

	// Errors samples the error messages behind failures, by outcome.
	Errors map[string][]string `json:"errors,omitempty"`
}

// OK reports whether the run kept the promise: no failed request, every
// upgrade succeeded, and the run was not aborted. Cut held connections are
// reported (Cuts) but do not count against OK.
func (r *Report) OK() bool {
	if r == nil || r.Failures != 0 || r.Aborted {
		return false
	}
	for _, u := range r.Upgrades {
		if u.Error != "" {
			return false
		}
	}
	return true
}

const maxReportSamples = 5

// buildReport merges the shards; the clients have all exited.
func (g *Generator) buildReport(started bool) *Report {
	cfg := g.cfg
	r := &Report{
		URL:          cfg.URL,
		Mode:         cfg.Mode,
		Method:       g.target.method,
		Path:         g.target.path,
		SlowPath:     g.target.slowPath,
		SlowFraction: cfg.SlowFraction,
		Clients:      cfg.Clients,
		Aborted:      g.aborted.Load(),
		Upgrades:     []UpgradeReport{},
		PIDs:         []PIDReport{},
	}
	if cfg.HoldConns > 0 {
		r.Hold = &HoldReport{Conns: cfg.HoldConns, Interval: Duration(cfg.HoldInterval)}
	}
	if !started {
		return r
	}
	r.Started = g.t0
	r.Elapsed = Duration(g.stopAt)

	var counts [numOutcomes]int64
	var steady, around Histogram
	var windows []windowStats
	pids := make(map[pidKey]pidAgg)
	samples := make(map[string][]string)
	for _, sh := range g.shards {
		sh.mu.Lock()
		for o, n := range sh.outcomes {
			counts[o] += n
		}
		steady.Merge(&sh.steady)
		around.Merge(&sh.around)
		for w, ws := range sh.windows {
			for len(windows) <= w {
				windows = append(windows, windowStats{})
			}
			t := &windows[w]
			for o, n := range ws.outcomes {
				t.outcomes[o] += n
			}
			t.cuts += ws.cuts
			t.maxLatency = max(t.maxLatency, ws.maxLatency)
		}
		for k, a := range sh.pids {
			m, ok := pids[k]
			if !ok {
				m = *a
			} else {
				m.n += a.n
				m.first = min(m.first, a.first)
				m.last = max(m.last, a.last)
			}
			pids[k] = m
		}
		for o, ss := range sh.samples {
			name := Outcome(o).String()
			for _, s := range ss {
				if len(samples[name]) < maxReportSamples {
					samples[name] = append(samples[name], s)
				}
			}
		}
		r.Cuts += sh.cuts.Load()
		sh.mu.Unlock()
	}
	r.Outcomes.addArray(&counts)
	r.Requests = r.Outcomes.Total()
	r.Failures = r.Outcomes.Failures()
	if r.Requests > 0 {
		r.FailuresPerMillion = float64(r.Failures) / float64(r.Requests) * 1e6
	}
	if sec := time.Duration(r.Elapsed).Seconds(); sec > 0 {
		r.RPS = float64(r.Requests) / sec
	}
	if len(windows) > 0 {
		var o Outcomes
		o.addArray(&windows[0].outcomes)
		r.SteadyFailures = o.Failures()
	}
	if r.Hold != nil {
		r.Hold.Cuts = r.Cuts
	}
	r.Steady = summarize(&steady)
	r.Upgrade = summarize(&around)
	if len(samples) > 0 {
		r.Errors = samples
	}

	// Per pid, over the whole run.
	byPID := make(map[int]*PIDReport)
	for k, a := range pids {
		if k.pid == 0 {
			r.UnknownPID += a.n
			continue
		}
		p := byPID[k.pid]
		if p == nil {
			p = &PIDReport{PID: k.pid, First: Duration(a.first), Last: Duration(a.last)}
			byPID[k.pid] = p
		}
		p.Requests += a.n
		p.First = min(p.First, Duration(a.first))
		p.Last = max(p.Last, Duration(a.last))
	}
	for _, p := range byPID {
		r.PIDs = append(r.PIDs, *p)
	}
	slices.SortFunc(r.PIDs, func(a, b PIDReport) int {
		if a.First != b.First {
			return cmpInt(int64(a.First), int64(b.First))
		}
		return a.PID - b.PID
	})

	// Per upgrade. Epoch e runs from trigger e-1 to trigger e.
	pidsIn := func(e int) map[int]pidAgg {
		m := make(map[int]pidAgg)
		for k, a := range pids {
			if k.epoch == e && k.pid != 0 {
				m[k.pid] = a
			}
		}
		return m
	}
	for i, mk := range g.marks {
		u := UpgradeReport{
			Index:   i + 1,
			Label:   mk.label,
			At:      Duration(mk.start),
			Result:  mk.result,
			OldPIDs: []int{},
			NewPIDs: []int{},
		}
		if mk.done >= 0 {
			u.Took = Duration(mk.done - mk.start)
		}
		if mk.err != nil {
			u.Error = mk.err.Error()
		}
		if w := i + 1; w < len(windows) {
			u.Outcomes.addArray(&windows[w].outcomes)
			u.Cuts = windows[w].cuts
			u.MaxLatency = Duration(windows[w].maxLatency)
		}
		u.Requests = u.Outcomes.Total()
		u.Failures = u.Outcomes.Failures()
		before, after := pidsIn(i), pidsIn(i+1)
		later := func(pid int) bool {
			// Under churn the next trigger can come before any client
			// reached the new generation: an answer from it in any later
			// epoch shows the upgrade did replace the process.
			for k := range pids {
				if k.pid == pid && k.epoch > i {
					return true
				}
			}
			return false
		}
		old, neu := g.generations(i, before, after, later)
		var firstNew, lastOld int64 = -1, -1
		for pid := range old {
			u.OldPIDs = append(u.OldPIDs, pid)
			if a, ok := after[pid]; ok {
				lastOld = max(lastOld, a.last-mk.start)
			}
		}
		for pid := range neu {
			u.NewPIDs = append(u.NewPIDs, pid)
			if a, ok := after[pid]; ok && (firstNew < 0 || a.first-mk.start < firstNew) {
				firstNew = a.first - mk.start
			}
		}
		slices.Sort(u.OldPIDs)
		slices.Sort(u.NewPIDs)
		if firstNew >= 0 {
			d := Duration(firstNew)
			u.FirstNewPID = &d
		}
		if lastOld >= 0 {
			d := Duration(lastOld)
			u.LastOldPID = &d
		}
		r.Upgrades = append(r.Upgrades, u)
	}
	return r
}

// generations decides which pids were the old and the new generation of
// upgrade i, given the pids that answered in the epoch before its trigger and
// in the one after. Pids the upgrade function reported win when they really
// answered. Otherwise the old generation is whatever was still answering
// once the previous upgrade had settled (so the generation before that,
// finishing its last requests early in the epoch, does not count), and the
// new one is whatever answered after the trigger and is not old. The pid the
// upgrade function reported counts when it answered at any time after the
// trigger (later says so), even after the next trigger.
func (g *Generator) generations(i int, before, after map[int]pidAgg, later func(pid int) bool) (old, neu map[int]bool) {
	mk := g.marks[i]
	old, neu = make(map[int]bool), make(map[int]bool)
	if p := mk.result.OldPID; p != 0 {
		if _, ok := before[p]; ok {
			old[p] = true
		} else if _, ok := after[p]; ok {
			old[p] = true
		}
	}
	if len(old) == 0 {
		var settled int64
		if i > 0 {
			prev := g.marks[i-1]
			settled = prev.start
			if prev.done >= 0 {
				settled = prev.done + int64(g.cfg.Settle)
			}
		}
		for pid, a := range before {
			if a.last >= settled {
				old[pid] = true
			}
		}
		if len(old) == 0 {
			for pid := range before {
				old[pid] = true
			}
		}
	}
	if p := mk.result.NewPID; p != 0 && !old[p] {
		if _, ok := after[p]; ok || later(p) {
			neu[p] = true
		}
	}
	if len(neu) == 0 {
		for pid := range after {
			if !old[pid] {
				neu[pid] = true
			}
		}
	}
	return old, neu
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

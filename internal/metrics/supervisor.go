// Package metrics holds the supervisor's Prometheus metrics, and the names
// the library's collector shares with them (names.go): what an operator of
// nginx, HAProxy or Envoy expects to graph around a reload.
// Everything lives on a Registry of its own (no global state), so a test,
// or a program embedding a supervisor, can run several side by side.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Snapshot is what the supervisor knows at the moment of a scrape.
type Snapshot struct {
	// Generation is the number of the serving generation (0: none).
	Generation int
	// Generations counts generations by state (serving, probation,
	// starting, draining).
	Generations map[string]int
	// Workers counts live workers by state (starting, ready, draining).
	Workers map[string]int
	// Program and SHA256 describe the serving generation's program.
	Program, SHA256 string
	// Ready is false while the supervisor stops or is in its stop delay.
	Ready bool
}

// Supervisor is the set of a supervisor's metrics. Its methods may be
// called from any goroutine.
type Supervisor struct {
	reg *prometheus.Registry

	upgrades    *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	phase       *prometheus.HistogramVec
	lastSuccess prometheus.Gauge
	lastTime    prometheus.Gauge
	restarts    prometheus.Counter
	crashLoops  prometheus.Counter
	drainKills  prometheus.Counter
}

// NewSupervisor registers the supervisor's metrics, the process and Go
// collectors, and a collector that calls snapshot at every scrape (it
// must be safe from any goroutine and return promptly; ok false drops the
// gauges it feeds from that scrape).
func NewSupervisor(snapshot func() (Snapshot, bool)) *Supervisor {
	m := &Supervisor{
		reg:      prometheus.NewRegistry(),
		upgrades: prometheus.NewCounterVec(prometheus.CounterOpts{Name: Upgrades.Name, Help: Upgrades.Help}, Upgrades.Labels),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "handoff_upgrade_refusals_total",
			Help: "Upgrades and reloads refused before anything started, by reason (missing, not_regular, not_executable, wrong_arch, checksum, check_failed, changed, stopping).",
		}, []string{"reason"}),
		phase:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: Phase.Name, Help: Phase.Help, Buckets: PhaseBuckets}, Phase.Labels),
		lastSuccess: newGauge(LastSuccess.Name, LastSuccess.Help),
		lastTime:    newGauge(LastTime.Name, LastTime.Help),
		restarts: newCounter("handoff_worker_restarts_total",
			"Workers restarted after they exited on their own."),
		crashLoops: newCounter("handoff_crash_loops_total",
			"Times the workers crashed more than --crash-limit times in a row (the supervisor then stops)."),
		drainKills: newCounter("handoff_drain_timeouts_total",
			"Draining workers killed at --drain-timeout: whatever connections they still had were cut."),
	}
	for _, result := range Results {
		for _, kind := range []string{"upgrade", "reload"} {
			m.upgrades.WithLabelValues(kind, result) // present at 0, so rate() works from the first scrape
		}
	}
	m.reg.MustRegister(m.upgrades, m.refusals, m.phase, m.lastSuccess, m.lastTime, m.restarts, m.crashLoops, m.drainKills,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		&stateCollector{snapshot: snapshot})
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Supervisor) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the metrics live, for a caller that adds its own.
func (m *Supervisor) Registry() *prometheus.Registry { return m.reg }

// Phases of a finished upgrade, as measured by the supervisor.
type Phases struct {
	StartToReady time.Duration // program resolved to the last new worker ready (0: never ready)
	Probation    time.Duration // probation start to the end (0: none)
	Total        time.Duration
}

// Upgrade counts one finished upgrade (kind "upgrade" or "reload") with
// result, and its phases. A refusal also counts under its reason.
func (m *Supervisor) Upgrade(kind, result, reason string, p Phases, at time.Time) {
	m.upgrades.WithLabelValues(kind, result).Inc()
	if result == ResultRefused {
		if reason == "" {
			reason = "stopping"
		}
		m.refusals.WithLabelValues(reason).Inc()
	}
	if p.StartToReady > 0 {
		m.phase.WithLabelValues(PhaseStartToReady).Observe(p.StartToReady.Seconds())
	}
	if p.Probation > 0 {
		m.phase.WithLabelValues(PhaseProbation).Observe(p.Probation.Seconds())
	}
	if result != ResultCoalesced {
		m.phase.WithLabelValues(PhaseTotal).Observe(p.Total.Seconds())
		ok := 0.0
		if result == ResultDone {
			ok = 1
		}
		m.lastSuccess.Set(ok)
		m.lastTime.Set(Timestamp(at))
	}
}

// Coalesced counts a request that joined an upgrade already running.
func (m *Supervisor) Coalesced(kind string) { m.upgrades.WithLabelValues(kind, ResultCoalesced).Inc() }

// Restart counts one worker restarted after a crash.
func (m *Supervisor) Restart() { m.restarts.Inc() }

// Drained observes one old worker's drain, from the signal to its exit.
func (m *Supervisor) Drained(d time.Duration) {
	m.phase.WithLabelValues(PhaseDrain).Observe(d.Seconds())
}

// DrainTimeout counts a draining worker killed at the drain timeout.
func (m *Supervisor) DrainTimeout() { m.drainKills.Inc() }

// CrashLoop counts the supervisor giving up on crashing workers.
func (m *Supervisor) CrashLoop() { m.crashLoops.Inc() }

// stateCollector turns a Snapshot into gauges at scrape time, so they can
// never disagree with `handoff status`.
type stateCollector struct {
	snapshot func() (Snapshot, bool)
}

var (
	descGeneration  = Generation.Desc()
	descGenerations = prometheus.NewDesc("handoff_generations", "Generations with a live process, by state.", []string{"state"}, nil)
	descWorkers     = prometheus.NewDesc("handoff_workers", "Live worker processes, by state.", []string{"state"}, nil)
	descBuild       = Build.Desc()
	descReady       = prometheus.NewDesc("handoff_ready", "1 while the supervisor serves and is not stopping (the /ready endpoint), else 0.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descGeneration, descGenerations, descWorkers, descBuild, descReady} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s, ok := c.snapshot()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(descGeneration, prometheus.GaugeValue, float64(s.Generation))
	for _, st := range []string{"starting", "probation", "serving", "draining"} {
		ch <- prometheus.MustNewConstMetric(descGenerations, prometheus.GaugeValue, float64(s.Generations[st]), st)
	}
	for _, st := range []string{"starting", "ready", "draining"} {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(s.Workers[st]), st)
	}
	if s.Program != "" {
		ch <- prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, s.Program, s.SHA256)
	}
	ready := 0.0
	if s.Ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
}

// newCounter and newGauge make the supervisor's unlabelled metrics.
func newCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func newGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

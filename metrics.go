package handoff

import (
	"os"
	"runtime"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/handoff-go/handoff/internal/metrics"
	"github.com/handoff-go/handoff/internal/preflight"
)

// Collector returns the Prometheus collector of this generation's
// metrics, for the program to register on a registry of its own (handoff
// keeps no global state: nothing is registered for you):
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(h.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// It exports (docs/METRICS.md lists each with its labels):
// handoff_upgrades_total{kind="upgrade",result} (done, failed, rolled_back,
// coalesced, refused), handoff_upgrade_phase_seconds{phase} (start_to_ready,
// probation, total, drain), handoff_last_upgrade_success and
// handoff_last_upgrade_timestamp_seconds, handoff_generation,
// handoff_build_info{program,sha256}, and
// handoff_connections_migrated_total, handoff_connections_fell_back_total,
// handoff_connections_cut_total, handoff_state_bytes_total. The names are
// the supervisor's, for the same things.
//
// The counters are cumulative across generations: every generation hands
// its totals (its own plus what it inherited) to its successor over the
// handover channel when the successor connects, and again at Stop, after
// its drain, so that the connections its drain moved are in; the
// successor adds them to its own. A scrape of the new generation therefore
// continues the old one's counters instead of starting from zero. In a
// chain A→B→C where A still drains while B has handed over to C, B
// forwards A's final counts to C the moment they arrive. What is counted
// after a generation's last frame is lost: a generation that dies without
// reaching Stop (a crash, SIGKILL, the drain-timeout kill of a supervisor)
// hands over nothing more, nor does one whose channel broke (its successor
// refused a connection, or exited); and A's final counts are lost when B
// has stopped before they came (A outlived B's drain), since B does not
// wait for them: it would hold every generation after it as long as the
// oldest drains. A successor of an older build (handover protocol version
// 1) receives no counts. Self-upgrades and supervised workers alike; on
// Windows, where nothing is handed over, the counts are this process's
// own.
//
// Under the handoff supervisor, upgrades are the supervisor's: its own
// metrics count them, and this collector counts this worker's drains and
// handovers.
func (h *Handoff) Collector() prometheus.Collector { return &collector{h: h} }

type collector struct {
	h     *Handoff
	once  sync.Once
	build prometheus.Metric // nil when the program could not be read
}

var (
	descUpgrades    = metrics.Upgrades.Desc()
	descPhase       = metrics.Phase.Desc()
	descLastSuccess = metrics.LastSuccess.Desc()
	descLastTime    = metrics.LastTime.Desc()
	descGeneration  = metrics.Generation.Desc()
	descBuild       = metrics.Build.Desc()
	descMigrated    = metrics.Migrated.Desc()
	descFellBack    = metrics.FellBack.Desc()
	descCut         = metrics.Cut.Desc()
	descStateBytes  = metrics.StateBytes.Desc()
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUpgrades, descPhase, descLastSuccess, descLastTime, descGeneration, descBuild,
		descMigrated, descFellBack, descCut, descStateBytes} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	t := c.h.stats.totals()
	for _, r := range metrics.Results {
		ch <- prometheus.MustNewConstMetric(descUpgrades, prometheus.CounterValue, t[upgradesKey(r)], "upgrade", r)
	}
	for _, phase := range []string{metrics.PhaseStartToReady, metrics.PhaseProbation, metrics.PhaseTotal, metrics.PhaseDrain} {
		name := metrics.Phase.Name
		buckets := make(map[float64]uint64, len(metrics.PhaseBuckets))
		for _, b := range metrics.PhaseBuckets {
			buckets[b] = uint64(t[series(name+"_bucket", "phase", phase, "le", strconv.FormatFloat(b, 'g', -1, 64))])
		}
		ch <- prometheus.MustNewConstHistogram(descPhase, uint64(t[series(name+"_count", "phase", phase)]),
			t[series(name+"_sum", "phase", phase)], buckets, phase)
	}
	for desc, key := range map[*prometheus.Desc]string{descLastSuccess: metrics.LastSuccess.Name, descLastTime: metrics.LastTime.Name} {
		if v, ok := t[key]; ok {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
		}
	}
	ch <- prometheus.MustNewConstMetric(descGeneration, prometheus.GaugeValue, float64(c.h.Generation()))
	c.once.Do(func() { c.build = buildInfo() })
	if c.build != nil {
		ch <- c.build
	}
	for desc, key := range map[*prometheus.Desc]string{descMigrated: metrics.Migrated.Name, descFellBack: metrics.FellBack.Name,
		descCut: metrics.Cut.Name, descStateBytes: metrics.StateBytes.Name} {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, t[key])
	}
}

// buildInfo is handoff_build_info for the program this process runs: its
// path, and the SHA-256 of the bytes running (on Linux /proc/self/exe,
// which stays the started file even once the path holds another), read
// at the first scrape.
func buildInfo() prometheus.Metric {
	path, err := os.Executable()
	if err != nil {
		return nil
	}
	bytes := path
	if runtime.GOOS == "linux" {
		bytes = "/proc/self/exe"
	}
	sum, err := preflight.SHA256(bytes)
	if err != nil {
		return nil
	}
	return prometheus.MustNewConstMetric(descBuild, prometheus.GaugeValue, 1, path, sum)
}

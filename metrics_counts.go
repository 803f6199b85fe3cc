package handoff

import (
	"errors"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/metrics"
)

// tally is what this generation counted (metrics.go exports it), and what
// its predecessor handed over (metrics_handover.go). Counts are kept by
// series key, `name{label="value",...}` as the Prometheus text format
// prints it, so that the set carried to the successor is the set scraped.
// Its methods may be called from any goroutine.
type tally struct {
	mu        sync.Mutex
	own       map[string]float64 // counted here, histograms as _bucket/_sum/_count series
	inherited map[string]float64 // the predecessor's last counters frame, whole

	// The upgrade running now (one runs at a time: trigger.go).
	began, ready time.Time
	counted      bool      // its outcome is counted already (upgradeDone)
	drainAt      time.Time // when this generation began to drain

	// forward, when set (metrics_handover.go), hands the totals on to the
	// successor after inherit: set once, before any goroutine reads it.
	forward func()
}

func newTally() *tally { return &tally{own: map[string]float64{}} }

// series is a series key: name, then label pairs in order.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i] + "=" + strconv.Quote(labels[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

func upgradesKey(result string) string {
	return series(metrics.Upgrades.Name, "kind", "upgrade", "result", result)
}

// gauges are the series a successor takes over as they are, not added to
// its own: the last upgrade of the chain is the predecessor's until this
// generation finishes one.
var gauges = map[string]bool{metrics.LastSuccess.Name: true, metrics.LastTime.Name: true}

func (t *tally) add(key string, v float64) {
	t.mu.Lock()
	t.own[key] += v
	t.mu.Unlock()
}

// observe records v seconds in the phase histogram, with t.mu held.
func (t *tally) observeLocked(phase string, d time.Duration) {
	v := d.Seconds()
	name := metrics.Phase.Name
	for _, b := range metrics.PhaseBuckets {
		if v <= b {
			t.own[series(name+"_bucket", "phase", phase, "le", strconv.FormatFloat(b, 'g', -1, 64))]++
		}
	}
	t.own[series(name+"_sum", "phase", phase)] += v
	t.own[series(name+"_count", "phase", phase)]++
}

// upgradeBegan: an upgrade starts a new generation now.
func (t *tally) upgradeBegan() {
	t.mu.Lock()
	t.began, t.ready = time.Now(), time.Time{}
	t.mu.Unlock()
}

// upgradeReady: the new generation is ready; its probation begins.
func (t *tally) upgradeReady() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.began.IsZero() {
		t.ready = time.Now()
		t.observeLocked(metrics.PhaseStartToReady, t.ready.Sub(t.began))
	}
}

// upgradeDone counts the running upgrade as done, at cutover, before this
// generation drains: its counts are handed over after the drain, and must
// hold this upgrade. upgraded then only ends the run.
func (t *tally) upgradeDone() {
	t.upgraded(nil)
	t.mu.Lock()
	t.counted = true
	t.mu.Unlock()
}

// upgraded counts the outcome of one upgrade run (runOne), and its phases.
// An upgrade that started nothing is refused; one that stopped because
// this generation did is failed, like any other that leaves no new
// generation serving.
func (t *tally) upgraded(err error) {
	t.mu.Lock()
	counted := t.counted
	t.counted = false
	t.mu.Unlock()
	if counted {
		return
	}
	result := metrics.ResultFailed
	switch {
	case err == nil:
		result = metrics.ResultDone
	case errors.Is(err, ErrRolledBack):
		result = metrics.ResultRolledBack
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.began.IsZero() {
		result = metrics.ResultRefused
	} else {
		if !t.ready.IsZero() {
			t.observeLocked(metrics.PhaseProbation, now.Sub(t.ready))
		}
		t.observeLocked(metrics.PhaseTotal, now.Sub(t.began))
		ok := 0.0
		if result == metrics.ResultDone {
			ok = 1
		}
		t.own[metrics.LastSuccess.Name] = ok
		t.own[metrics.LastTime.Name] = metrics.Timestamp(now)
	}
	t.own[upgradesKey(result)]++
	t.began, t.ready = time.Time{}, time.Time{}
}

// request counts n upgrade requests that ran no upgrade here: coalesced
// (joined the queued one, or passed on to the new generation, which counts
// its own run) or refused.
func (t *tally) request(result string, n int) { t.add(upgradesKey(result), float64(n)) }

// drainBegan and drainEnded time this generation's drain, to Stop.
func (t *tally) drainBegan() {
	t.mu.Lock()
	t.drainAt = time.Now()
	t.mu.Unlock()
}

func (t *tally) drainEnded() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.drainAt.IsZero() {
		t.observeLocked(metrics.PhaseDrain, time.Since(t.drainAt))
		t.drainAt = time.Time{}
	}
}

// drained adds what one Serve's drain did with its connections.
func (t *tally) drained(migrated, fellBack, cut int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.own[metrics.Migrated.Name] += float64(migrated)
	t.own[metrics.FellBack.Name] += float64(fellBack)
	t.own[metrics.Cut.Name] += float64(cut)
}

// inherit takes the predecessor's counters frame: its whole cumulative
// total so far, which replaces the one before.
func (t *tally) inherit(c map[string]float64) {
	t.mu.Lock()
	t.inherited = maps.Clone(c)
	t.mu.Unlock()
	if t.forward != nil {
		t.forward()
	}
}

// totals is what a scrape shows and a successor inherits: this
// generation's counts plus the predecessor's; for the gauges, this
// generation's once it has its own.
func (t *tally) totals() map[string]float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := maps.Clone(t.own)
	for k, v := range t.inherited {
		if gauges[k] {
			if _, mine := out[k]; !mine {
				out[k] = v
			}
			continue
		}
		out[k] += v
	}
	return out
}

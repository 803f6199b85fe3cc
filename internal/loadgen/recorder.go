package loadgen

import (
	"sync"
	"sync/atomic"
)

// The recorder is sharded: every busy client owns a shard (so its lock is
// never contended) and held connections, which send one request a second,
// share a few. Live counters are atomics so that progress snapshots never
// take a shard's lock; everything else is merged once, after the run.

// pidKey identifies "pid p answered during epoch e", where epoch e is the
// time between the e-th and the (e+1)-th upgrade trigger. Keeping pids per
// epoch is what lets the report say, per upgrade, when the first new pid
// and the last old pid answered, even if two servers take turns.
type pidKey struct {
	epoch int
	pid   int
}

// pidAgg is what one shard saw of one pid in one epoch; times are
// nanoseconds since the generator started, at the end of each response.
type pidAgg struct {
	n           int64
	first, last int64
}

// windowStats counts the requests that started in one window: window 0 is
// steady state, window i+1 is "around upgrade i" (from its trigger until
// Settle after it completed).
type windowStats struct {
	outcomes   [numOutcomes]int64
	cuts       int64
	maxLatency int64
}

// maxSamples bounds the error messages kept per outcome per shard.
const maxSamples = 3

type shard struct {
	requests atomic.Int64
	failures atomic.Int64
	cuts     atomic.Int64

	mu       sync.Mutex
	outcomes [numOutcomes]int64
	steady   Histogram // latencies of successful requests in window 0
	around   Histogram // ... in any upgrade window
	windows  []windowStats
	pids     map[pidKey]*pidAgg
	samples  [numOutcomes][]string
}

func newShard() *shard {
	return &shard{pids: make(map[pidKey]*pidAgg)}
}

func (s *shard) window(w int) *windowStats {
	for len(s.windows) <= w {
		s.windows = append(s.windows, windowStats{})
	}
	return &s.windows[w]
}

// record counts one request that started in window w and finished in epoch
// e, at end nanoseconds since the generator started.
func (s *shard) record(r *result, w, e int, end int64) {
	s.requests.Add(1)
	failed := r.outcome.Failed()
	if failed {
		s.failures.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[r.outcome]++
	ws := s.window(w)
	ws.outcomes[r.outcome]++
	if lat := int64(r.latency); lat > ws.maxLatency {
		ws.maxLatency = lat
	}
	if failed {
		if r.err != nil && len(s.samples[r.outcome]) < maxSamples {
			s.samples[r.outcome] = append(s.samples[r.outcome], r.err.Error())
		}
	} else if w == 0 {
		s.steady.Record(r.latency)
	} else {
		s.around.Record(r.latency)
	}
	if r.status != 0 && r.outcome != OutcomeMismatched && r.outcome != OutcomeDuplicate {
		k := pidKey{epoch: e, pid: r.pid}
		a := s.pids[k]
		if a == nil {
			a = &pidAgg{first: end}
			s.pids[k] = a
		}
		a.n++
		a.last = end
	}
}

// cut counts a held connection the server closed under us, seen in window w.
func (s *shard) cut(w int) {
	s.cuts.Add(1)
	s.mu.Lock()
	s.window(w).cuts++
	s.mu.Unlock()
}

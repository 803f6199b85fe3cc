package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in fixed log-linear buckets: 64 linear
// sub-buckets per power of two, so any value is known to within 1/64 of
// itself and a percentile (reported at its bucket's midpoint) is within
// about 0.8%. It covers 1 ns to 2^36 ns (~68 s); larger values land in the
// top bucket, and min/max are exact. Memory is fixed (~16 KB) however many
// values are recorded, which is why the load generator keeps one per shard
// instead of a slice of every latency.
//
// The zero value is ready to use. A Histogram is not safe for concurrent
// use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    float64 // nanoseconds, for the mean
	min    int64
	max    int64
}

const (
	histSubBits  = 6
	histSub      = 1 << histSubBits // linear sub-buckets per octave
	histMaxBits  = 36               // 2^36 ns ≈ 68.7 s > 60 s
	histBuckets  = (histMaxBits - histSubBits + 1) << histSubBits
	histMaxValue = int64(1)<<histMaxBits - 1
)

// bucketOf returns the bucket index of v (nanoseconds, already clamped to
// [0, histMaxValue]).
func bucketOf(v int64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 1 // position of the top bit, >= histSubBits
	shift := e - histSubBits
	sub := int(v>>shift) & (histSub - 1)
	return (shift+1)<<histSubBits | sub
}

// bucketBounds returns the lowest value of bucket i and its width.
func bucketBounds(i int) (low, width int64) {
	if i < histSub {
		return int64(i), 1
	}
	g := i >> histSubBits // shift+1
	sub := int64(i & (histSub - 1))
	return (histSub + sub) << (g - 1), int64(1) << (g - 1)
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	if v > histMaxValue {
		v = histMaxValue
	}
	h.counts[bucketOf(v)]++
}

// Merge adds all of o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest value recorded (0 if none).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest value recorded (0 if none).
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the average of the values recorded (0 if none).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 <= q <= 1; e.g. 0.99 for p99) as the
// midpoint of the bucket holding it, clamped to [Min, Max]. It returns 0 for
// an empty histogram; q outside [0,1] (or NaN) is clamped.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if !(q > 0) {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	// The rank of the q-quantile, 1-based: the smallest value with at least
	// q*n values at or below it.
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketBounds(i)
			v := low + width/2
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	vals := make([]int64, 200000)
	for i := range vals {
		// Log-uniform from 1 µs to 60 s: every octave gets exercised.
		v := int64(math.Exp(math.Log(1e3) + r.Float64()*(math.Log(60e9)-math.Log(1e3))))
		vals[i] = v
		h.Record(time.Duration(v))
	}
	slices.Sort(vals)
	for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := int64(h.Quantile(q))
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
			t.Errorf("q%v: got %v, exact %v, error %.3f%%", q, time.Duration(got), time.Duration(exact), rel*100)
		}
	}
	if h.Count() != uint64(len(vals)) || int64(h.Min()) != vals[0] || int64(h.Max()) != vals[len(vals)-1] {
		t.Fatalf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
}

func TestHistogramBucketsContiguous(t *testing.T) {
	prevEnd := int64(0)
	for i := range histBuckets {
		low, w := bucketBounds(i)
		if low != prevEnd || bucketOf(low) != i || bucketOf(low+w-1) != i {
			t.Fatalf("bucket %d: [%d,+%d) prev end %d", i, low, w, prevEnd)
		}
		prevEnd = low + w
	}
	if prevEnd <= histMaxValue {
		t.Fatalf("buckets end at %d, below max %d", prevEnd, histMaxValue)
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram")
	}
	h.Record(-5)
	h.Record(time.Hour) // beyond the range: clamped bucket, exact max
	if h.Min() != 0 || h.Max() != time.Hour || h.Quantile(1) != time.Hour || h.Quantile(math.NaN()) != 0 {
		t.Fatalf("min %v max %v", h.Min(), h.Max())
	}
	if q := h.Quantile(0.99); q < 60*time.Second || q > time.Hour {
		t.Fatalf("p99 %v", q)
	}
	var m Histogram
	m.Record(3 * time.Millisecond)
	m.Merge(&h)
	m.Merge(nil)
	if m.Count() != 3 || m.Min() != 0 || m.Max() != time.Hour {
		t.Fatalf("merged count %d min %v max %v", m.Count(), m.Min(), m.Max())
	}
	var one Histogram
	one.Record(1234567)
	if one.Quantile(0.5) != 1234567 {
		t.Fatalf("single value: %v", one.Quantile(0.5))
	}
}

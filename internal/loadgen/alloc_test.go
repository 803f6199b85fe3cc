package loadgen

import (
	"net/http"
	"testing"
)

// The per-request path should allocate little beyond what
// http.ReadResponse needs; this keeps an eye on regressions.
func TestAllocsPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", "12")
	}))
	g := newTestGen(t, Config{URL: url, Clients: 1})
	sh := newShard()
	ctx := testCtx(t)
	cl := g.busy[0]
	allocs := testing.AllocsPerRun(200, func() {
		r := cl.do(ctx)
		if r.outcome != OutcomeOK {
			t.Fatalf("outcome %v: %v", r.outcome, r.err)
		}
		sh.record(&r, 0, 0, 1)
	})
	t.Logf("%.1f allocations per request", allocs)
	if allocs > 40 {
		t.Fatalf("%.1f allocations per request", allocs)
	}
}

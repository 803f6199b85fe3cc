//go:build linux || darwin || freebsd

package quicroute_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/handoff-go/handoff/internal/quicroute"
)

// churn is the outcome of a run of back-to-back cutovers.
type churn struct {
	ok, failed, resets, heldFailed int
	byGen                          map[int]int
	first                          []result
	stats                          []quicroute.Stats
}

// runCutovers serves 8 client loops through gens generations, cutting
// over each time the current one has answered perGen requests, with one
// 4 MiB request held open on every old generation until the last one
// took over. routed uses the routing Conn; otherwise every generation is
// a plain quic.Transport on its copy of the socket, the next one starts
// reading at cutover and (as quic-go recommends) has a StatelessResetKey:
// what a new user writes (issue 14).
func runCutovers(t *testing.T, gens int, perGen int64, routed bool) churn {
	serverTLS, clientTLS := testTLS(t)
	shared := listenShared(t)
	url := fmt.Sprintf("https://%s/", shared.LocalAddr())
	var codec *quicroute.Codec
	if routed {
		codec = newCodec(t)
	}
	h := newHolder(t)
	start := func(n uint32) *generation {
		o := genOptions{codec: codec, active: n == 1}
		if !routed {
			var k quic.StatelessResetKey
			k[0] = byte(n)
			o.reset = &k
		}
		return startGeneration(t, shared, n, serverTLS, h, o)
	}
	all := []*generation{start(1)}
	ld, ltr := startLoad(url, loops, clientTLS)
	defer ltr.Close()

	var held []<-chan result
	drained := make(chan error, gens)
	drainTimeout := 30 * time.Second
	if !routed {
		drainTimeout = 5 * time.Second // stuck requests would hold it to the end
	}
	for n := 1; n < gens; n++ {
		cur := all[n-1]
		if !waitUntil(30*time.Second, func() bool { return cur.served.Load() >= perGen || ld.broken() }) {
			if routed {
				t.Fatalf("timed out waiting for generation %d to serve %d requests", n, perGen)
			}
			t.Logf("generation %d served only %d requests in 30s", n, cur.served.Load())
		}
		if gen, res, ok := heldRequest(t, url, h, clientTLS); !ok {
			t.Logf("no held request reached a handler on generation %d", n)
		} else if routed && gen != uint32(n) {
			t.Fatalf("held request on generation %d, want %d", gen, n)
		} else {
			held = append(held, res)
		}
		var next *generation
		if routed {
			next = start(uint32(n + 1))
			cutover(t, cur, next)
		} else {
			next = start(uint32(n + 1)) // reads the shared socket from now on, as cur still does
		}
		all = append(all, next)
		go func() { drained <- cur.drain(drainTimeout) }()
	}
	last := all[gens-1]
	if !waitUntil(30*time.Second, func() bool { return last.served.Load() >= perGen || ld.broken() }) && routed {
		t.Fatal("timed out waiting for the last generation to serve its requests")
	}
	h.free()
	var c churn
	for i, ch := range held {
		r := receive(t, fmt.Sprintf("held request %d", i+1), ch, 30*time.Second)
		if r.err != nil || (routed && r.gen != i+1) {
			c.heldFailed++
			t.Logf("held request %d: served by generation %d, err %v", i+1, r.gen, r.err)
		}
	}
	for i := 1; i < gens; i++ {
		if err := receive(t, "an old generation to drain", drained, drainTimeout+10*time.Second); err != nil && routed {
			t.Errorf("drain: %v", err)
		}
	}
	ld.end()
	c.ok, c.byGen = ld.ok, ld.byGen
	c.failed = len(ld.failed)
	for _, f := range ld.failed {
		if f.reset {
			c.resets++
		}
		if len(c.first) < 5 {
			c.first = append(c.first, f)
		}
	}
	if routed {
		for _, g := range all {
			c.stats = append(c.stats, g.conn.Stats())
		}
	}
	return c
}

// TestRepeatedCutoversUnderLoad_NoFailedRequests: ten generations, nine
// cutovers under 8 non-retrying client loops, every old generation kept
// alive by a held request until the last cutover, so the newest forwards
// to eight older ones at once. Nothing fails, nothing is reset.
func TestRepeatedCutoversUnderLoad_NoFailedRequests(t *testing.T) {
	c := runCutovers(t, 10, 300, true)
	t.Logf("routed: %d ok, %d failed (%d stateless resets), %d held failed; by generation %v", c.ok, c.failed, c.resets, c.heldFailed, c.byGen)
	var fwd, fromLink, full, noRoute, foreign uint64
	for i, s := range c.stats {
		t.Logf("gen %d: %+v", i+1, s)
		fwd += s.Forwarded
		fromLink += s.FromLink
		full += s.DroppedLinkFull
		noRoute += s.DroppedNoRoute
		foreign += s.DroppedForeign
	}
	t.Logf("forwarded %d, read from links %d, dropped: link full %d, no route %d, foreign %d", fwd, fromLink, full, noRoute, foreign)
	for _, f := range c.first {
		t.Errorf("failed request (gen %d, reset %v): %v", f.gen, f.reset, f.err)
	}
	if c.failed != 0 || c.heldFailed != 0 || c.resets != 0 {
		t.Errorf("%d requests and %d held requests failed, %d stateless resets", c.failed, c.heldFailed, c.resets)
	}
	if fwd == 0 {
		t.Error("nothing was forwarded")
	}
}

// TestNaiveCutover_LosesRequests is the same run without routing: the
// baseline the routing exists for. It reports, and fails only if the run
// itself breaks; the numbers go into the report.
func TestNaiveCutover_LosesRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("baseline measurement")
	}
	c := runCutovers(t, 4, 300, false)
	t.Logf("naive: %d ok, %d failed (%d stateless resets), %d of 3 held requests failed; by generation %v", c.ok, c.failed, c.resets, c.heldFailed, c.byGen)
	for _, f := range c.first {
		t.Logf("failed request (gen %d, reset %v): %v", f.gen, f.reset, f.err)
	}
}

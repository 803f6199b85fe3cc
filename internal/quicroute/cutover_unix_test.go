//go:build linux || darwin || freebsd

package quicroute_test

import (
	"crypto/tls"
	"fmt"
	"testing"
	"time"
)

const loops = 8

// heldRequest starts a GET /hold on a fresh client connection (so it lands
// on whichever generation reads the socket now) and waits until a
// generation's handler holds it. The result arrives on the returned
// channel once the holder is released.
func heldRequest(t *testing.T, url string, h *holder, clientTLS *tls.Config) (gen uint32, res <-chan result, ok bool) {
	t.Helper()
	c, tr := newClient(clientTLS)
	t.Cleanup(func() { tr.Close() })
	ch := make(chan result, 1)
	go func() { ch <- get(c, url+"hold") }()
	select {
	case gen := <-h.entered:
		return gen, ch, true
	case r := <-ch:
		t.Logf("held request failed before reaching a handler: %v", r.err)
		return 0, nil, false
	case <-time.After(10 * time.Second):
		return 0, nil, false
	}
}

// newConnectionsLandOn checks that fresh client connections, dialled after
// a cutover, are served by the generation that now reads the socket.
func newConnectionsLandOn(t *testing.T, url string, clientTLS *tls.Config, want int) {
	t.Helper()
	for i := range 5 {
		c, tr := newClient(clientTLS)
		r := get(c, url)
		tr.Close()
		if r.err != nil || r.gen != want {
			t.Errorf("new connection %d after cutover: served by generation %d, err %v; want %d", i, r.gen, r.err, want)
		}
	}
}

// TestCutoverChainUnderLoad_NoFailedRequests drives 8 client loops
// through two cutovers, 1→2 and 2→3, while generation 1 still drains a
// request held across both: generation 3 forwards generation 1's
// datagrams to it directly and generation 2's to generation 2.
func TestCutoverChainUnderLoad_NoFailedRequests(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	shared := listenShared(t)
	url := fmt.Sprintf("https://%s/", shared.LocalAddr())
	codec := newCodec(t)
	h := newHolder(t)
	g1 := startGeneration(t, shared, 1, serverTLS, h, genOptions{codec: codec, active: true})
	g2 := startGeneration(t, shared, 2, serverTLS, h, genOptions{codec: codec})
	g3 := startGeneration(t, shared, 3, serverTLS, h, genOptions{codec: codec})

	ld, ltr := startLoad(url, loops, clientTLS)
	defer ltr.Close()
	// Two cutovers, 1→2 and 2→3; each old generation holds a request
	// and drains while the next serves.
	gens := []*generation{g1, g2, g3}
	held := make([]<-chan result, 2)
	drained := make([]chan error, 2)
	for i, old := range gens[:2] {
		next := gens[i+1]
		waitFor(t, fmt.Sprintf("generation %d to serve 200 requests", old.n), 20*time.Second, func() bool { return old.served.Load() >= 200 })
		gen, res, _ := heldRequest(t, url, h, clientTLS)
		if gen != old.n {
			t.Fatalf("held request %d on generation %d, want %d", i+1, gen, old.n)
		}
		held[i] = res
		cutover(t, old, next)
		drained[i] = make(chan error, 1)
		go func() { drained[i] <- old.drain(30 * time.Second) }()
		newConnectionsLandOn(t, url, clientTLS, int(next.n))
	}
	hellos1, hellos2 := g1.hellos.Load(), g2.hellos.Load()
	waitFor(t, "generation 3 to serve 200 requests", 20*time.Second, func() bool { return g3.served.Load() >= 200 })

	// Both held responses (4 MiB each) now need their clients' ACKs and
	// window updates, which arrive at generation 3 and are forwarded.
	h.free()
	results := make([]result, len(held))
	for i, ch := range held {
		results[i] = receive(t, fmt.Sprintf("the request held on generation %d", i+1), ch, 20*time.Second)
	}
	for i, r := range results {
		if r.err != nil || r.gen != i+1 {
			t.Errorf("held request %d: served by generation %d, err %v (reset %v)", i+1, r.gen, r.err, r.reset)
		}
	}
	for i, ch := range drained {
		if err := receive(t, fmt.Sprintf("generation %d to drain", i+1), ch, 40*time.Second); err != nil {
			t.Errorf("generation %d drain: %v", i+1, err)
		}
	}
	waitFor(t, "generation 3 to serve 200 more requests", 20*time.Second, func() bool { return g3.served.Load() >= 400 })
	ld.end()

	s1, s2, s3 := g1.conn.Stats(), g2.conn.Stats(), g3.conn.Stats()
	t.Logf("requests: %d ok, %d failed; by generation %v", ld.ok, len(ld.failed), ld.byGen)
	t.Logf("gen 1: %+v", s1)
	t.Logf("gen 2: %+v", s2)
	t.Logf("gen 3: %+v", s3)
	t.Logf("client hellos after each generation's cutover: gen 1 %d, gen 2 %d", g1.hellos.Load()-hellos1, g2.hellos.Load()-hellos2)
	for i, f := range ld.failed {
		if i == 10 {
			t.Errorf("... and %d more", len(ld.failed)-10)
			break
		}
		t.Errorf("failed request (served by gen %d, stateless reset %v): %v", f.gen, f.reset, f.err)
	}
	if ld.byGen[3] == 0 || ld.byGen[1] == 0 || ld.byGen[2] == 0 {
		t.Errorf("every generation should have served the load: %v", ld.byGen)
	}
	if s3.Forwarded == 0 || s1.FromLink == 0 || s2.FromLink == 0 {
		t.Errorf("no forwarding happened: gen3 forwarded %d, gen1 got %d, gen2 got %d", s3.Forwarded, s1.FromLink, s2.FromLink)
	}
	if d := s3.DroppedLinkFull + s2.DroppedLinkFull; d != 0 {
		t.Logf("datagrams dropped on a full link: %d (QUIC recovered them)", d)
	}
}

package loadgen

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"
)

// Held connections on a healthy server: one request each, then idle; Stop
// must wake them at once (the interval is an hour) and nothing is cut.
func TestHoldHealthyStopsPromptly(t *testing.T) {
	const h = 5
	first := newCountdown(h)
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", "9")
		first.hit()
	}))
	g, err := New(Config{URL: url, Mode: ModeHold, HoldConns: h, HoldInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(testCtx(t))
	waitFor(t, first.done, "first request on every held connection")
	done := make(chan *Report)
	go func() { done <- g.Stop() }()
	select {
	case rep := <-done:
		if rep.Requests != h || rep.Failures != 0 || rep.Cuts != 0 || rep.Hold == nil || rep.Hold.Cuts != 0 || !rep.OK() {
			t.Fatalf("requests %d failures %d cuts %d", rep.Requests, rep.Failures, rep.Cuts)
		}
	case <-time.After(testTimeout):
		t.Fatal("Stop did not wake the held connections")
	}
}

// A server that closes every connection after answering (without
// Connection: close) cuts held connections: each is counted as cut, at the
// moment it happens, and no request fails because the client notices the
// cut before its next send.
func TestHoldCountsCuts(t *testing.T) {
	const h = 3
	served := newCountdown(4 * h)
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		respond(c, 200, "X-Request-Id: "+req.Header.Get("X-Request-Id")+"\r\n", "1\n")
		served.hit()
		// returning closes the connection
	})
	g, err := New(Config{URL: url, Mode: ModeHold, HoldConns: h, HoldInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(testCtx(t))
	waitFor(t, served.done, "requests")
	rep := g.Stop()
	// Every request after a connection's first was preceded by a detected
	// cut of that connection.
	if rep.Cuts < rep.Requests-h || rep.Hold.Cuts != rep.Cuts {
		t.Fatalf("cuts %d for %d requests on %d conns", rep.Cuts, rep.Requests, h)
	}
	if rep.Failures != 0 {
		t.Fatalf("failures %d: %v", rep.Failures, rep.Errors)
	}
	if !rep.OK() {
		t.Fatal("idle cuts alone failed the run")
	}
}

package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// A healthy server: no failures, the client's count equals the server's,
// and every request is attributed to the pid from X-Pid.
func TestHealthyServer(t *testing.T) {
	for _, mode := range []Mode{ModeKeepAlive, ModeClose, ModeMixed} {
		t.Run(string(mode), func(t *testing.T) {
			var served atomic.Int64
			enough := newCountdown(300)
			url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Pid", "4242")
				w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
				if r.Method != "POST" || r.Header.Get("Content-Length") == "" {
					http.Error(w, "want POST with a body", 400)
				}
				served.Add(1)
				enough.hit()
			}))
			g, err := New(Config{URL: url, Mode: mode, Clients: 4, SlowPath: "/slow", SlowFraction: 0.1})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Start(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, enough.done, "300 requests")
			rep := g.Stop()
			if rep.Failures != 0 || !rep.OK() {
				t.Fatalf("failures %d: %+v %v", rep.Failures, rep.Outcomes, rep.Errors)
			}
			if rep.Requests != served.Load() || rep.Outcomes.OK != rep.Requests {
				t.Fatalf("client counted %d (ok %d), server served %d", rep.Requests, rep.Outcomes.OK, served.Load())
			}
			if len(rep.PIDs) != 1 || rep.PIDs[0].PID != 4242 || rep.PIDs[0].Requests != rep.Requests {
				t.Fatalf("pids %+v, want all %d on 4242", rep.PIDs, rep.Requests)
			}
			if rep.Steady.Count != uint64(rep.Requests) || rep.Steady.P50 <= 0 || rep.Steady.P99 < rep.Steady.P50 {
				t.Fatalf("latency %+v", rep.Steady)
			}
			if rep.RPS <= 0 {
				t.Fatalf("rps %v", rep.RPS)
			}
			if g.Stop() != rep {
				t.Fatal("second Stop returned another report")
			}
		})
	}
}

// Failures seen through the whole generator add up.
func TestGeneratorCountsFailures(t *testing.T) {
	var n atomic.Int64
	enough := newCountdown(100)
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		enough.hit()
		if n.Add(1)%2 == 0 {
			w.WriteHeader(503)
		}
	}))
	g, err := New(Config{URL: url, Clients: 2})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(testCtx(t))
	waitFor(t, enough.done, "100 requests")
	rep := g.Stop()
	if rep.Requests != n.Load() || rep.Outcomes.BadStatus != rep.Failures || rep.Failures != n.Load()/2 {
		t.Fatalf("requests %d failures %d outcomes %+v, server saw %d", rep.Requests, rep.Failures, rep.Outcomes, n.Load())
	}
	if rep.OK() || rep.FailuresPerMillion < 400000 || rep.FailuresPerMillion > 600000 {
		t.Fatalf("OK %v per million %v", rep.OK(), rep.FailuresPerMillion)
	}
}

// startRefused starts a generator of cfg against a port nobody listens on
// and waits until it has counted three failures (refused connects).
func startRefused(t *testing.T, cfg Config, what string) *Generator {
	t.Helper()
	cfg.URL = testserver.FreeAddr(t) // free, and closed again: refused
	failed := make(chan struct{})
	var once atomic.Bool
	cfg.ProgressEvery = time.Millisecond
	cfg.Progress = func(s Snapshot) {
		if s.Failures >= 3 && once.CompareAndSwap(false, true) {
			close(failed)
		}
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.Start(testCtx(t))
	waitFor(t, failed, what)
	return g
}

func TestRefusedThroughGenerator(t *testing.T) {
	g := startRefused(t, Config{Clients: 2}, "refused requests")
	rep := g.Stop()
	if rep.Outcomes.Refused == 0 || rep.Outcomes.Refused != rep.Requests {
		t.Fatalf("outcomes %+v", rep.Outcomes)
	}
}

// Cancelling the context aborts at once, even with slow requests in flight,
// and the casualties are not counted.
func TestAbort(t *testing.T) {
	started := newCountdown(2)
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		started.hit()
		br.ReadByte() // hang until the client goes away
	})
	ctx, cancel := testCtxCancel(t)
	g, err := New(Config{URL: url, Clients: 2})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(ctx)
	waitFor(t, started.done, "requests in flight")
	cancel()
	done := make(chan *Report)
	go func() { done <- g.Stop() }()
	select {
	case rep := <-done:
		if !rep.Aborted || rep.Failures != 0 || rep.OK() {
			t.Fatalf("aborted %v failures %d", rep.Aborted, rep.Failures)
		}
	case <-time.After(testTimeout):
		t.Fatal("Stop did not return after abort")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{},
		{URL: "https://example.com"},
		{URL: "http://"},
		{URL: "http://x", Mode: "bogus"},
		{URL: "http://x", Clients: -1},
		{URL: "http://x", SlowFraction: 0.5},
		{URL: "http://x", SlowPath: "/s", SlowFraction: 2},
		{URL: "http://x", Timeout: -1},
		{URL: "http://x", Method: "GE T"},
		{URL: "http://x", Path: "/a b"},
		{URL: "http://x", Clients: 1 << 23},
		{URL: "%zz"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
	g, err := New(Config{URL: "127.0.0.1:1/p?q=1", Mode: "HOLD"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := g.Config()
	if g.target.addr != "127.0.0.1:1" || g.target.path != "/p?q=1" || cfg.HoldConns != DefaultHoldConns || cfg.Clients != 0 {
		t.Fatalf("target %+v cfg %+v", g.target, cfg)
	}
	if rep := g.Stop(); rep == nil || rep.Requests != 0 {
		t.Fatal("Stop without Start")
	}
	if g.Start(testCtx(t)) == nil {
		t.Fatal("Start after Stop succeeded")
	}
}

func TestRequestBytes(t *testing.T) {
	g := newTestGen(t, Config{URL: "http://h:8/x", Clients: 1, Mode: ModeClose})
	cl := g.busy[0]
	cl.seq = 0xabc
	putHex(cl.normal[cl.normalOff+idPrefixLen:cl.normalOff+idLen], cl.seq)
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(cl.normal)))
	if err != nil {
		t.Fatal(err)
	}
	id := req.Header.Get("X-Request-Id")
	if req.Method != "POST" || req.Host != "h:8" || req.URL.Path != "/x" || !req.Close || req.ContentLength != int64(len(DefaultBody)) {
		t.Fatalf("request %+v", req)
	}
	if s, ok := parseIDSeq(id, cl.prefix); !ok || s != 0xabc || !strings.HasSuffix(id, "-0000000abc") {
		t.Fatalf("id %q", id)
	}
}

func TestReportJSONAndTable(t *testing.T) {
	rep := &Report{Upgrades: []UpgradeReport{{Index: 1, Error: "x"}}, Errors: map[string][]string{"reset": {"boom"}}}
	d := Duration(1500 * time.Microsecond)
	rep.Upgrades[0].FirstNewPID = &d
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"first_new_pid_ms":1.5`)) {
		t.Fatalf("json %s", b)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || *back.Upgrades[0].FirstNewPID != d {
		t.Fatalf("round trip: %v", err)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "FAIL") {
		t.Fatalf("table %v:\n%s", err, buf.String())
	}
	if err := (*Report)(nil).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
}

//go:build linux

package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/testserver"
)

// loopResults drives the first client of g through an event loop of its
// own until it has n results, and returns them.
func loopResults(t *testing.T, g *Generator, n int) []result {
	t.Helper()
	l, err := newEvLoop(g)
	if err != nil {
		t.Fatal(err)
	}
	l.add(g.busy[0], newShard())
	g.loops = []waker{l}
	var got []result
	g.afterRequest = func(cl *client, r *result) bool {
		got = append(got, *r)
		return len(got) < n
	}
	done := make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer close(done)
		l.run()
	}()
	select {
	case <-done:
	case <-time.After(testTimeout):
		g.abort()
		<-done
		t.Fatalf("event loop still running after %v, %d results", testTimeout, len(got))
	}
	for _, c := range l.conns {
		if c.fd >= 0 {
			t.Errorf("connection %d still open after the loop ended", c.idx)
		}
	}
	if !l.closed {
		t.Error("loop descriptors not closed")
	}
	return got
}

// loopOne is loopResults for a single request.
func loopOne(t *testing.T, cfg Config) result {
	t.Helper()
	return loopResults(t, newTestGen(t, cfg), 1)[0]
}

// The outcome classes come out of the event loop as they do out of
// client.do (outcome_test.go), against the same kinds of servers.
func TestEventLoopOutcomes(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := readRequest(br); err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0) // close sends RST
			c.Close()
		})
		if r := loopOne(t, Config{URL: url}); r.outcome != OutcomeReset || !r.cut || r.dialFailed {
			t.Fatalf("outcome %v cut %v (err %v), want reset", r.outcome, r.cut, r.err)
		}
	})
	// Closed before a complete response: after the request (the
	// connection is cut), or in the middle of the response.
	for _, tc := range []struct {
		name    string
		partial string // what the server writes before it closes; "": nothing
		cut     bool
	}{
		{"eof", "", true},
		{"close mid-response", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", false},
		{"close mid-header", "HTTP/1.1 200 OK\r\nContent-Le", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err == nil {
					io.WriteString(c, tc.partial)
				}
			})
			if r := loopOne(t, Config{URL: url}); r.outcome != OutcomeEOF || (tc.cut && !r.cut) {
				t.Fatalf("outcome %v cut %v (err %v), want eof", r.outcome, r.cut, r.err)
			}
		})
	}
	t.Run("500", func(t *testing.T) {
		url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}))
		rs := loopResults(t, newTestGen(t, Config{URL: url}), 3)
		for i, r := range rs {
			if r.outcome != OutcomeBadStatus || r.status != 500 {
				t.Fatalf("request %d: outcome %v status %d (err %v), want bad_status 500", i, r.outcome, r.status, r.err)
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		addr := testserver.FreeAddr(t) // free, and closed again: refused
		rs := loopResults(t, newTestGen(t, Config{URL: "http://" + addr, ReconnectDelay: -1}), 3)
		for i, r := range rs {
			if r.outcome != OutcomeRefused || !r.dialFailed {
				t.Fatalf("request %d: outcome %v (err %v), want refused", i, r.outcome, r.err)
			}
		}
	})
	t.Run("never answers", func(t *testing.T) {
		url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
			readRequest(br)
			br.ReadByte() // never answer; returns when the client gives up
		})
		r := loopOne(t, Config{URL: url, Timeout: 50 * time.Millisecond})
		if r.outcome != OutcomeTimeout || r.dialFailed || r.latency < 50*time.Millisecond {
			t.Fatalf("outcome %v after %v (err %v), want timeout", r.outcome, r.latency, r.err)
		}
	})
	t.Run("mismatched", func(t *testing.T) {
		url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Request-Id", "not-"+r.Header.Get("X-Request-Id"))
		}))
		if r := loopOne(t, Config{URL: url}); r.outcome != OutcomeMismatched {
			t.Fatalf("outcome %v (err %v), want mismatched", r.outcome, r.err)
		}
	})
	t.Run("answered twice", func(t *testing.T) {
		url := startRaw(t, answerTwice)
		rs := loopResults(t, newTestGen(t, Config{URL: url}), 3)
		// The second answer is read as the response to the next request;
		// the desynchronised connection is then dropped.
		for i, want := range []Outcome{OutcomeOK, OutcomeDuplicate, OutcomeOK} {
			if rs[i].outcome != want {
				t.Fatalf("request %d: outcome %v (err %v), want %v", i, rs[i].outcome, rs[i].err, want)
			}
		}
	})
	t.Run("malformed", func(t *testing.T) {
		url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
			if _, err := readRequest(br); err == nil {
				c.Write([]byte("SSH-2.0-OpenSSH\r\n"))
			}
		})
		if r := loopOne(t, Config{URL: url}); r.outcome != OutcomeOther {
			t.Fatalf("outcome %v (err %v), want other", r.outcome, r.err)
		}
	})
}

// A connect that never completes (the listener's accept queue is full, so
// its SYNs are dropped) times out as a failed dial.
func TestEventLoopConnectTimeout(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	// Fill the queue (backlog 0 holds one connection), never accepting.
	filler, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	r := loopOne(t, Config{URL: "http://" + addr, Timeout: 100 * time.Millisecond})
	if r.outcome != OutcomeTimeout || !r.dialFailed {
		t.Fatalf("outcome %v dial failed %v (err %v), want a timeout while connecting", r.outcome, r.dialFailed, r.err)
	}
}

// The pid comes from X-Pid or from the body's first line, also when the
// response arrives in many small pieces (header lines split across reads,
// a chunked body) or is larger than the read buffer.
func TestEventLoopPIDAndFraming(t *testing.T) {
	url := startPIDServer(t)
	for path, want := range map[string]int{"/hdr": 777, "/body": 4321} {
		rs := loopResults(t, newTestGen(t, Config{URL: url + path}), 3)
		for i, r := range rs {
			if r.outcome != OutcomeOK || r.pid != want {
				t.Fatalf("%s request %d: outcome %v pid %d (err %v), want ok %d", path, i, r.outcome, r.pid, r.err, want)
			}
		}
	}

	dribble := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			resp := "HTTP/1.1 200 OK\r\nX-Request-Id: " + req.Header.Get("X-Request-Id") +
				"\r\nX-Long: " + strings.Repeat("L", 9000) + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"3\r\n55\n\r\n" + "5\r\n5hi\n\n\r\n" + "0\r\n\r\n"
			// One byte per write: every line is split across reads.
			for i := range len(resp) {
				if _, err := c.Write([]byte{resp[i]}); err != nil {
					return
				}
			}
		}
	})
	rs := loopResults(t, newTestGen(t, Config{URL: dribble}), 2)
	for i, r := range rs {
		if r.outcome != OutcomeOK || r.pid != 55 {
			t.Fatalf("dribbled response %d: outcome %v pid %d (err %v), want ok 55", i, r.outcome, r.pid, r.err)
		}
	}
}

// The request on the wire is the one the goroutine engine sends: method,
// path, Host, body, and a fresh X-Request-Id each time.
func TestEventLoopRequestBytes(t *testing.T) {
	ids := make(chan string, 4)
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body := new(strings.Builder)
			fmt.Fprint(body, req.Method, " ", req.URL.Path, " ", req.Host, " ")
			buf := make([]byte, 64)
			n, _ := req.Body.Read(buf)
			body.Write(buf[:n])
			ids <- req.Header.Get("X-Request-Id") + " " + body.String()
			respond(c, 200, "", "1\n")
		}
	})
	g := newTestGen(t, Config{URL: url + "/p"})
	loopResults(t, g, 3)
	host := strings.TrimPrefix(url, "http://")
	seen := map[string]bool{}
	for range 3 {
		got := <-ids
		id, rest, _ := strings.Cut(got, " ")
		if rest != "POST /p "+host+" "+DefaultBody {
			t.Fatalf("request %q", got)
		}
		if _, ok := parseIDSeq(id, g.busy[0].prefix); !ok || seen[id] {
			t.Fatalf("id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

// A server that closes each keep-alive connection after answering, without
// saying Connection: close. When the loop sees the close before writing
// its next request, nothing was lost: it reconnects and counts no failure.
func TestEventLoopIdleCloseSeenBeforeWriteIsNotAFailure(t *testing.T) {
	accepted, closed, url := startAnswerThenClose(t)
	g := newTestGen(t, Config{URL: url})
	// Deterministic: before the loop checks its idle connection, wait until
	// the server's close has actually arrived.
	g.beforeReuseFD = func(fd int) {
		waitFor(t, closed, "server close")
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(testTimeout/time.Millisecond)); err != nil {
			t.Error(err)
		}
	}
	allOnFreshConnections(t, loopResults(t, g, 20), accepted)
}

// The same server, but the loop writes before it could know: the request
// was sent and lost, which is a failure and must be counted as one.
func TestEventLoopCloseAfterWriteIsAFailure(t *testing.T) {
	url := startRaw(t, answerThenLoseTheNext)
	rs := loopResults(t, newTestGen(t, Config{URL: url}), 2)
	if rs[0].outcome != OutcomeOK {
		t.Fatalf("first: outcome %v (err %v)", rs[0].outcome, rs[0].err)
	}
	if r := rs[1]; (r.outcome != OutcomeEOF && r.outcome != OutcomeReset) || !r.cut {
		t.Fatalf("second: outcome %v (err %v), want eof or reset", r.outcome, r.err)
	}
}

// Connection: close from the server, and close mode on our side, are
// normal HTTP: every request gets a connection of its own and none fails.
func TestEventLoopNewConnectionPerRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   Mode
		header string
	}{{"server says close", ModeKeepAlive, "Connection: close\r\n"}, {"close mode", ModeClose, ""}} {
		t.Run(tc.name, func(t *testing.T) {
			var accepted atomic.Int32
			url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
				accepted.Add(1)
				req, err := readRequest(br)
				if err != nil {
					return
				}
				if tc.mode == ModeClose && !req.Close {
					respond(c, 400, "", "want Connection: close\n")
					return
				}
				respond(c, 200, tc.header, "ok\n")
				br.ReadByte() // until the client closes: it must not wait for us
			})
			const n = 5
			for i, r := range loopResults(t, newTestGen(t, Config{URL: url, Mode: tc.mode}), n) {
				if r.outcome != OutcomeOK {
					t.Fatalf("request %d: outcome %v (err %v)", i, r.outcome, r.err)
				}
			}
			if got := accepted.Load(); got != n {
				t.Fatalf("%d connections for %d requests", got, n)
			}
		})
	}
}

// The generator uses event loops by default for an IP address, goroutines
// for a host name or when told to, and both count the same way; every
// descriptor is closed once Stop returns.
func TestEngines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		host   string
		engine engineKind
		loops  bool
	}{
		{"event loop", "127.0.0.1", engineAuto, true},
		{"goroutines", "127.0.0.1", engineGoroutines, false},
		{"host name", "localhost", engineAuto, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			enough := newCountdown(200)
			url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Pid", "31")
				w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
				if n.Add(1)%4 == 0 {
					w.WriteHeader(503)
				}
				enough.hit()
			}))
			url = strings.Replace(url, "127.0.0.1", tc.host, 1)
			g, err := New(Config{URL: url, Mode: ModeMixed, Clients: 6, SlowPath: "/slow", SlowFraction: 0.1})
			if err != nil {
				t.Fatal(err)
			}
			g.engine = tc.engine
			g.loopCount = 2
			if err := g.Start(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if got := len(g.loops) > 0; got != tc.loops {
				t.Fatalf("event loops running: %v, want %v", got, tc.loops)
			}
			waitFor(t, enough.done, "200 requests")
			rep := g.Stop()
			if rep.Requests != n.Load() || rep.Outcomes.BadStatus != n.Load()/4 || rep.Failures != rep.Outcomes.BadStatus {
				t.Fatalf("requests %d outcomes %+v errors %v, server saw %d", rep.Requests, rep.Outcomes, rep.Errors, n.Load())
			}
			if len(rep.PIDs) != 1 || rep.PIDs[0].PID != 31 || rep.Steady.Count != uint64(rep.Outcomes.OK) {
				t.Fatalf("pids %+v latency %+v", rep.PIDs, rep.Steady)
			}
			for _, w := range g.loops {
				l := w.(*evLoop)
				for _, c := range l.conns {
					if c.fd >= 0 || c.state != connDone {
						t.Fatalf("connection %d: fd %d state %d after Stop", c.idx, c.fd, c.state)
					}
				}
			}
		})
	}
}

// Stop does not wait for a client pausing before it reconnects: the pause
// is cut short (the delay here is an hour).
func TestEventLoopStopWakesPausedClients(t *testing.T) {
	g := startRefused(t, Config{Clients: 3, ReconnectDelay: time.Hour}, "every client refused once")
	done := make(chan *Report)
	go func() { done <- g.Stop() }()
	select {
	case rep := <-done:
		if rep.Outcomes.Refused != 3 || rep.Requests != 3 {
			t.Fatalf("outcomes %+v, want 3 refused", rep.Outcomes)
		}
	case <-time.After(testTimeout):
		t.Fatal("Stop waited for the reconnect delay")
	}
}

// serveFast answers every request on c at once with a small keep-alive
// response that echoes its X-Request-Id, with less work per request than
// net/http, so that a benchmark measures the client more than the server.
func serveFast(c net.Conn, br *bufio.Reader) {
	out := make([]byte, 0, 256)
	id := make([]byte, 0, 64)
	for {
		id = id[:0]
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("X-Request-Id: ")); ok {
				id = append(id[:0], bytes.TrimSpace(v)...)
			}
		}
		out = append(out[:0], "HTTP/1.1 200 OK\r\nX-Pid: 4242\r\nX-Request-Id: "...)
		out = append(out, id...)
		out = append(out, "\r\nContent-Length: 24\r\n\r\n4242\nhello from handoff\n"...)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// BenchmarkEngines runs b.N keep-alive GETs through 8 clients with each
// engine against serveFast in the same process (so the absolute figures
// include the server's share of the CPU; compare engines, not machines):
//
//	go test -run '^$' -bench Engines -benchmem ./internal/loadgen
func BenchmarkEngines(b *testing.B) {
	url := startRaw(b, serveFast)
	for _, tc := range []struct {
		name   string
		engine engineKind
	}{{"eventloop", engineAuto}, {"goroutines", engineGoroutines}} {
		b.Run(tc.name, func(b *testing.B) {
			g, err := New(Config{URL: url, Clients: 8, Method: "GET", NoBody: true})
			if err != nil {
				b.Fatal(err)
			}
			g.engine = tc.engine
			var n atomic.Int64
			enough := make(chan struct{})
			g.afterRequest = func(cl *client, r *result) bool {
				if r.outcome != OutcomeOK {
					b.Errorf("outcome %v: %v", r.outcome, r.err)
				}
				k := n.Add(1)
				if k == int64(b.N) {
					close(enough)
				}
				return k < int64(b.N)
			}
			b.ReportAllocs()
			b.ResetTimer()
			if err := g.Start(testCtx(b)); err != nil {
				b.Fatal(err)
			}
			select {
			case <-enough:
			case <-time.After(testTimeout):
				b.Fatal("timed out")
			}
			b.StopTimer()
			g.Stop()
		})
	}
}

// The event loop's per-request path allocates nothing: the figure below
// is for the whole run (loop setup included) over 2,000 requests.
func TestEventLoopAllocsPerRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	url := startRaw(t, serveFast)
	g, err := New(Config{URL: url, Clients: 4, Method: "GET", NoBody: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	var count atomic.Int64
	enough := make(chan struct{})
	g.afterRequest = func(cl *client, r *result) bool {
		k := count.Add(1)
		if k == n {
			close(enough)
		}
		return k < n
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := g.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, enough, "requests")
	rep := g.Stop()
	runtime.ReadMemStats(&after)
	// Requests already in flight on other clients when the n-th ended
	// still count.
	if len(g.loops) == 0 || rep.Outcomes.OK < n || rep.Failures != 0 {
		t.Fatalf("loops %d, outcomes %+v", len(g.loops), rep.Outcomes)
	}
	per := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.3f allocations per request", per)
	if per > 0.5 {
		t.Fatalf("%.3f allocations per request", per)
	}
}

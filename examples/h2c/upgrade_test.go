//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The promise for HTTP/2: h2c clients through 20 upgrades, zero
// failed requests. HTTP/2 connections cannot move to the new generation:
// the old one ends them with GOAWAY (srv.Shutdown) when it drains, finishes
// the streams in flight, and the clients open their next connection to the
// new generation. Every generation's pid must answer.
//
// Two kinds of clients run side by side, each on its own HTTP/2-only
// transports (one long-lived connection per transport, since HTTP/2
// multiplexes), 4 callers per transport, one of them making 150 ms requests
// so that streams are in flight at every drain, all sending POSTs with a
// body:
//
//   - replay: bodies the transport can replay (Request.GetBody, which
//     http.NewRequest sets for a strings reader: what Go clients usually
//     send). No request may fail.
//   - strict: bodies it cannot replay. No request may fail, except those the
//     server did not process: see load.
func TestH2CThrough20Upgrades_NoFailedRequests(t *testing.T) {
	testH2CUpgrades(t, "-probation", "300ms", "-drain-idle", "1s")
}

// The same with keep-alive migration off (Options.NoMigrate): HTTP/2
// connections are never migrated, they get GOAWAY either way.
func TestH2CThrough20UpgradesWithoutMigration_NoFailedRequests(t *testing.T) {
	testH2CUpgrades(t, "-migrate=false", "-probation", "300ms", "-drain-idle", "1s")
}

func testH2CUpgrades(t *testing.T, flags ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := testserver.Start(t, ctx, testserver.Build(t, "."), flags...)
	replay := startLoad("http://"+s.Addr, 3, 4, true)
	strict := startLoad("http://"+s.Addr, 2, 4, false)
	stopped := false
	defer func() {
		if !stopped {
			replay.stop()
			strict.stop()
		}
	}()

	start := time.Now()
	generations := s.Upgrades(ctx, 20, replay.waitAnswer)
	took := time.Since(start)
	rr, sr := replay.stop(), strict.stop()
	stopped = true
	t.Logf("20 upgrades in %v", took.Round(time.Millisecond))
	t.Logf("replay: %s", rr)
	t.Logf("strict: %s", sr)
	for _, r := range []report{rr, sr} {
		if r.Failed > 0 {
			t.Errorf("%s: %d of %d requests failed across 20 upgrades: %v", r.Kind, r.Failed, r.Requests, r.Errors)
		}
		if r.NotH2 > 0 {
			t.Errorf("%s: %d responses were not HTTP/2", r.Kind, r.NotH2)
		}
	}
	for _, g := range generations {
		if rr.Pids[g] == 0 {
			t.Errorf("generation pid %d answered no request", g)
		}
	}
	if len(rr.Pids) != len(generations) {
		t.Errorf("answers came from %d pids, want the %d generations %v", len(rr.Pids), len(generations), generations)
	}
}

// ---- the client ----

// load sends POSTs from workers goroutines on each of transports HTTP/2-only
// transports (h2c with prior knowledge, nothing else) until stopped. The
// client itself never retries, and every error counts as a failure, with
// one exception below.
//
// A POST is no protection against hidden retries in HTTP/2: Go's HTTP/2
// transport retries a request on its own, whatever the method, when the
// server's GOAWAY says it did not process it (its stream id is above the
// GOAWAY's last stream id), on REFUSED_STREAM, or when nothing of it was
// written yet, provided it can replay the body (Request.GetBody, or no
// body). Those retries are safe (the server never saw the request), and
// retries counts them, through httptrace (one GotConn per attempt).
//
// With replayable false, the body cannot be replayed, so the transport
// cannot retry a request once it has touched its body, and the GOAWAY race
// reaches the caller. net/http's HTTP/2 server sends a single GOAWAY with
// the last stream id it has seen (not the two-step shutdown of RFC 9113,
// 6.8, that grpc-go does), so a request the client writes while that GOAWAY
// is on the wire is discarded by the server. The caller then gets one of
// two errors, each meaning the server never saw the request:
//
//   - "received Server's graceful shutdown GOAWAY" (errClientConnGotGoAway):
//     the request's stream id is above the GOAWAY's last stream id, and the
//     server discards frames of such streams;
//   - "cannot rewind body after connection loss": the connection had become
//     unusable (the GOAWAY arrived) before the request got a stream, so
//     nothing was written, but the HTTP/2 transport closed the body on the
//     way out and net/http's retry on a new connection cannot rewind it.
//     (With a body and no GetBody, HTTP/2 only reaches that retry through
//     "client conn not usable", which is returned before a stream exists.)
//
// Those are counted as unprocessed, not failed: the server provably did not
// process them, and a client may resend them. Any other error fails.
type load struct {
	kind        string
	clients     []*http.Client
	quit        atomic.Bool // set: the senders stop
	wg          sync.WaitGroup
	start       time.Time
	reqs        atomic.Int64
	unprocessed atomic.Int64 // not processed by the server, not retried (strict only)
	retries     atomic.Int64 // attempts beyond the first, made by the transport
	notH2       atomic.Int64
	tally       *testserver.Tally // answers per pid, failures
}

// unprocessedErrors are the errors of requests the server did not process
// (see load), when the body cannot be replayed.
var unprocessedErrors = []string{
	"received Server's graceful shutdown GOAWAY",
	"net/http: cannot rewind body after connection loss",
}

func unprocessed(err error) bool {
	for _, e := range unprocessedErrors {
		if strings.Contains(err.Error(), e) {
			return true
		}
	}
	return false
}

type report struct {
	Kind                                          string
	Requests, Failed, Unprocessed, Retries, NotH2 int64
	Pids                                          map[int]int64
	Errors                                        []string
	Took                                          time.Duration
}

func (r report) String() string {
	pids := slices.Sorted(maps.Keys(r.Pids))
	s := fmt.Sprintf("%d requests in %v, %d failed", r.Requests, r.Took.Round(time.Millisecond), r.Failed)
	if r.Kind == "strict" {
		s += fmt.Sprintf(", %d not processed by the server (GOAWAY race) and not replayable", r.Unprocessed)
	}
	s += fmt.Sprintf(", %d retried by the transport, %d pids answered", r.Retries, len(pids))
	if len(r.Errors) > 0 {
		s += "; failures: " + strings.Join(r.Errors, "; ")
	}
	return s
}

func startLoad(url string, transports, workers int, replayable bool) *load {
	kind := "strict"
	if replayable {
		kind = "replay"
	}
	l := &load{kind: kind, tally: testserver.NewTally(), start: time.Now()}
	for range transports {
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true) // and not HTTP/1
		l.clients = append(l.clients, &http.Client{Transport: tr, Timeout: 10 * time.Second})
	}
	for i, c := range l.clients {
		for w := range workers {
			l.wg.Add(1)
			target := url + "/"
			if w == workers-1 {
				target = url + "/slow?ms=150"
			}
			go l.send(c, target, fmt.Sprintf("%s-t%dw%d", kind, i, w), replayable)
		}
	}
	return l
}

// onceReader is a request body the transport cannot replay: http.NewRequest
// sets GetBody only for the bytes and strings readers it knows.
type onceReader struct{ r io.Reader }

func (o *onceReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func (l *load) send(c *http.Client, url, name string, replayable bool) {
	defer l.wg.Done()
	for n := 0; !l.quit.Load(); n++ {
		payload := name + "-" + strconv.Itoa(n)
		var body io.Reader = strings.NewReader(payload)
		if !replayable {
			body = &onceReader{body}
		}
		var attempts atomic.Int64
		trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { attempts.Add(1) }}
		// Not derived from a context that stop cancels: a request in
		// flight when the load stops runs to its end and is counted.
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", url, body)
		if err != nil {
			panic(err)
		}
		req.ContentLength = int64(len(payload))
		resp, err := c.Do(req)
		l.reqs.Add(1)
		if n := attempts.Load(); n > 1 {
			l.retries.Add(n - 1)
		}
		if err != nil {
			if !replayable && unprocessed(err) {
				l.unprocessed.Add(1)
				continue
			}
			l.fail(err.Error())
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			l.fail("read body: " + err.Error())
			continue
		}
		if resp.StatusCode != http.StatusOK {
			l.fail(resp.Status)
			continue
		}
		if resp.ProtoMajor != 2 {
			l.notH2.Add(1)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(first)
		if err != nil {
			l.fail(fmt.Sprintf("body %q has no pid", b))
			continue
		}
		l.answered(pid)
	}
}

func (l *load) fail(msg string) { l.tally.Fail(msg) }

func (l *load) answered(pid int) { l.tally.Answered(pid) }

// waitAnswer waits until pid has answered a request, or ctx is done.
func (l *load) waitAnswer(ctx context.Context, pid int) error { return l.tally.WaitAnswer(ctx, pid) }

// stop ends the load, once the requests in flight are done, and reports.
func (l *load) stop() report {
	l.quit.Store(true)
	l.wg.Wait()
	for _, c := range l.clients {
		c.CloseIdleConnections()
	}
	pids, failed, errs := l.tally.Counts()
	return report{
		Kind:        l.kind,
		Requests:    l.reqs.Load(),
		Failed:      failed,
		Unprocessed: l.unprocessed.Load(),
		Retries:     l.retries.Load(),
		NotH2:       l.notH2.Load(),
		Pids:        pids,
		Errors:      errs,
		Took:        time.Since(l.start),
	}
}

// ---- running the example as real processes ----

func TestMain(m *testing.M) { testserver.Main(m) }

//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The promise for HTTP/3 (issue 14): quic-go's own HTTP/3 client,
// several loops, no retries of its own, through 10 upgrades by SIGHUP: no
// request fails, every generation answers, requests in flight at each
// cutover finish on their old connection (answered by the old pid after
// the new one answered), and every connection that ended during the run
// was closed by the client after the server's GOAWAY: none timed out, none
// was reset.
func TestHTTP3Through10Upgrades_NoFailedRequests(t *testing.T) {
	r := runUpgrades(t, 10, "-quic-routing=true")
	t.Log(r)
	r.checkNothingLost(t, true)
	if len(r.pids) != len(r.generations) {
		t.Errorf("answers came from %d pids, want the %d generations %v", len(r.pids), len(r.generations), r.generations)
	}
}

// The same load with the routing off (Options.NoQUICRouting): plain
// quic-go on a shared socket, what a new user gets: both generations read
// it, each old connection loses the datagrams the new one reads, and its
// requests wait for retransmissions or time out. It measures what the
// routing prevents (docs/BENCHMARKS.md) and fails only if nothing failed
// or stalled, which would mean the test no longer exercises the failure.
func TestHTTP3Through10UpgradesWithoutRouting_StallsAndFails(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the failure the routing prevents; slow (timeouts)")
	}
	r := runUpgrades(t, 10, "-quic-routing=false")
	t.Log(r)
	t.Logf("failures per upgrade: %v; requests over %v per upgrade: %v", r.failedPer, stall, r.stalledPer)
	if r.failed == 0 && r.ends.died() == 0 && r.stalled == 0 {
		t.Errorf("routing off lost nothing: the test does not exercise the failure")
	}
}

// A long-lived, busy connection (a streaming response) stays with its
// generation through an upgrade: its datagrams are forwarded to the old
// generation, which keeps writing to it after the new one serves, until
// the drain deadline cuts it, and the client never sees a stateless
// reset or an idle timeout.
func TestHTTP3BusyConnectionKeptUntilDrainDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, url, client := startServer(t, ctx, "-probation", "300ms", "-drain-timeout", "3s")
	old := s.FirstPID
	keepBusyStream(t, ctx, url, client, old, func() int {
		next, _ := s.Upgrade(ctx, old)
		return next
	})
	if err := testserver.WaitExit(ctx, old); err != nil {
		t.Fatal(err)
	}
	s.PIDs.Gone(old)
}

// keepBusyStream opens a streaming request to old, runs handover (an
// upgrade, a takeover), which returns the pid that replaces old, and
// checks that the stream stays with old, through its datagrams forwarded
// by the newcomer, until the drain deadline closes it: at least ten lines
// after the newcomer answered a new connection, every one from old, and
// neither a stateless reset nor an idle timeout at its end.
func keepBusyStream(t *testing.T, ctx context.Context, url string, client *tls.Config, old int, handover func() int) {
	t.Helper()
	streamer := newH3Client(client)
	streamer.client.Timeout = 0 // the stream outlives any per-request timeout; ctx bounds it
	defer streamer.close()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/stream?ms=30000&every=20", nil)
	resp, err := streamer.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 1024)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		readErr <- sc.Err()
	}()
	if first := <-lines; first != strconv.Itoa(old) {
		t.Fatalf("stream's first line %q, want pid %d", first, old)
	}

	next := handover()
	// Through probation the old generation still takes new connections;
	// the cutover is when a new connection reaches the new one.
	for pid := 0; pid != next; {
		fresh := newH3Client(client)
		pid, err = fresh.pid(ctx, url)
		fresh.close()
		if err != nil {
			t.Fatalf("new connection after the handover: %v", err)
		}
	}
	// From here the new generation reads the socket: every line that still
	// arrives came through it, forwarded to the old one.
	after := 0
	for l := range lines {
		if l != strconv.Itoa(old) {
			t.Fatalf("stream line %q after the handover, want the old pid %d", l, old)
		}
		after++
	}
	err = <-readErr
	t.Logf("%d lines from the old generation after the new one served; the stream ended with %v", after, err)
	if after < 10 {
		t.Errorf("only %d lines after the cutover: the old generation's connection was not kept", after)
	}
	var reset *quic.StatelessResetError
	var idle *quic.IdleTimeoutError
	var h3 *http3.Error
	switch {
	case errors.As(err, &reset) || errors.As(err, &idle):
		t.Errorf("the busy connection died (%v) instead of being closed at the drain deadline", err)
	case !errors.As(err, &h3) || !h3.Remote:
		t.Errorf("the stream ended with %v, want the server's close at the drain deadline", err)
	}
}

// ---- the server ----

// startServer runs the example on a free UDP port with a certificate the
// returned client config trusts.
func startServer(t *testing.T, ctx context.Context, flags ...string) (*testserver.Server, string, *tls.Config) {
	t.Helper()
	certFile, keyFile, client := writeCert(t)
	addr := testserver.FreeUDPAddr(t)
	// testserver.Start passes a TCP -addr first; the last -addr wins.
	flags = append([]string{"-addr", addr, "-cert", certFile, "-key", keyFile}, flags...)
	s := testserver.Start(t, ctx, testserver.Build(t, "."), flags...)
	return s, "https://" + addr, client
}

// writeCert writes a certificate for 127.0.0.1 (the example's own
// self-signed maker) and returns a client config that trusts it.
func writeCert(t *testing.T) (certFile, keyFile string, client *tls.Config) {
	t.Helper()
	conf, err := tlsConfig("127.0.0.1:0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := conf.Certificates[0]
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pemBlock("CERTIFICATE", c.Certificate[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pemBlock("PRIVATE KEY", der), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, &tls.Config{RootCAs: pool}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// ---- the client ----

// clientTimeout bounds each request, as a client would: a request whose
// datagrams are lost waits for QUIC's retransmissions until then. It is
// the drain deadline the tests give the server.
const clientTimeout = 3 * time.Second

// h3Client is quic-go's HTTP/3 client, whose connections are followed to
// their end: how each one ended tells a GOAWAY from a death.
type h3Client struct {
	client  *http.Client
	tr      *http3.Transport
	ends    *connEnds
	stopped atomic.Bool // the test is over: ends from now on are its own
}

func newH3Client(tlsConf *tls.Config) *h3Client {
	c := &h3Client{ends: &connEnds{}}
	c.tr = &http3.Transport{
		TLSClientConfig: tlsConf.Clone(),
		Dial: func(ctx context.Context, addr string, tlsConf *tls.Config, conf *quic.Config) (*quic.Conn, error) {
			conn, err := quic.DialAddrEarly(ctx, addr, tlsConf, conf)
			if err == nil {
				go c.follow(conn)
			}
			return conn, err
		},
	}
	c.client = &http.Client{Transport: c.tr, Timeout: clientTimeout}
	return c
}

func (c *h3Client) follow(conn *quic.Conn) {
	<-conn.Context().Done()
	if !c.stopped.Load() {
		c.ends.add(context.Cause(conn.Context()))
	}
}

func (c *h3Client) close() {
	c.stopped.Store(true)
	c.tr.Close()
}

// pid asks for / and returns the answering pid.
func (c *h3Client) pid(ctx context.Context, url string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/", nil)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(first)
}

// connEnds counts how connections ended while the load ran.
type connEnds struct {
	mu                                sync.Mutex
	goaway, idle, reset, serverClosed int
	other                             []string
}

func (e *connEnds) add(cause error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var app *quic.ApplicationError
	var idle *quic.IdleTimeoutError
	var reset *quic.StatelessResetError
	switch {
	case errors.As(cause, &app) && !app.Remote && app.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError):
		e.goaway++ // the client closes a connection once GOAWAY came and its requests are done
	case errors.As(cause, &app) && app.Remote:
		e.serverClosed++
	case errors.As(cause, &idle):
		e.idle++
	case errors.As(cause, &reset):
		e.reset++
	default:
		if len(e.other) < 5 {
			e.other = append(e.other, fmt.Sprint(cause))
		}
	}
}

// merge adds o's counts to e's.
func (e *connEnds) merge(o *connEnds) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.goaway += o.goaway
	e.idle += o.idle
	e.reset += o.reset
	e.serverClosed += o.serverClosed
	e.other = append(e.other, o.other...)
}

// died counts the connections that ended other than by GOAWAY.
func (e *connEnds) died() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.idle + e.reset + e.serverClosed + len(e.other)
}

func (e *connEnds) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("connections closed after GOAWAY %d, closed by the server %d, idle timeout %d, stateless reset %d, other %v",
		e.goaway, e.serverClosed, e.idle, e.reset, e.other)
}

// outcome is one request's outcome.
type outcome struct {
	pid        int
	start, end time.Time
	fail       string
	rejected   bool // refused unprocessed (H3_REQUEST_REJECTED): see load
}

// load sends POSTs from workers goroutines on each of clients HTTP/3
// clients until stopped; the last worker of each asks /slow?ms=300 so
// that requests are in flight at every cutover. quic-go's transport
// resends by itself, once, only a request the server did not process (a
// connection unusable since GOAWAY, or H3_REQUEST_REJECTED): retries
// counts those, through httptrace.
//
// One class is counted apart, as the h2c test does for HTTP/2: a request
// the client opened while the server's GOAWAY was on the wire is refused
// with H3_REQUEST_REJECTED, which RFC 9114 (section 8.1) defines as "not
// processed, safe to retry" (or, when the GOAWAY arrived first, quic-go's
// client fails it as "conn unusable" before sending it); quic-go's server sends one GOAWAY, not the
// two steps that would avoid the race, and its client retries such a
// request only once (when the retry meets another GOAWAY, the error
// reaches the caller). Any other error fails.
type load struct {
	clients  []*h3Client
	quit     atomic.Bool // set: the senders stop
	wg       sync.WaitGroup
	start    time.Time
	tally    *testserver.Tally
	retries  atomic.Int64
	rejected atomic.Int64 // refused unprocessed (H3_REQUEST_REJECTED), not retried
	stopOnce sync.Once

	mu      sync.Mutex
	answers []outcome
}

func startLoad(url string, tlsConf *tls.Config, clients, workers int) *load {
	l := &load{tally: testserver.NewTally(), start: time.Now()}
	for range clients {
		l.clients = append(l.clients, newH3Client(tlsConf))
	}
	for i, c := range l.clients {
		for w := range workers {
			target := url + "/"
			if w == workers-1 {
				target = url + "/slow?ms=300"
			}
			l.wg.Add(1)
			go l.send(c, target, fmt.Sprintf("c%dw%d", i, w))
		}
	}
	return l
}

func (l *load) send(c *h3Client, url, name string) {
	defer l.wg.Done()
	for n := 0; !l.quit.Load(); n++ {
		var attempts atomic.Int64
		trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { attempts.Add(1) }}
		// Not derived from a context that stop cancels: a request in
		// flight when the load stops runs to its end and is counted.
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", url,
			strings.NewReader(name+"-"+strconv.Itoa(n)))
		if err != nil {
			panic(err)
		}
		start := time.Now()
		resp, err := c.client.Do(req)
		if n := attempts.Load(); n > 1 {
			l.retries.Add(n - 1)
		}
		a := l.read(resp, err)
		a.start, a.end = start, time.Now()
		l.mu.Lock()
		l.answers = append(l.answers, a)
		l.mu.Unlock()
		switch {
		case a.rejected:
			l.rejected.Add(1)
		case a.fail != "":
			l.tally.Fail(a.fail)
		default:
			l.tally.Answered(a.pid)
		}
	}
}

func (l *load) read(resp *http.Response, err error) outcome {
	if err != nil {
		var h3 *http3.Error
		if errors.As(err, &h3) && h3.ErrorCode == http3.ErrCodeRequestRejected {
			return outcome{rejected: true}
		}
		// quic-go's client could not open the request stream: the
		// connection had received GOAWAY. Its transport says the request
		// "wasn't sent out" (its type is unexported: the message is all
		// there is), resends it once, and when the resend meets another
		// GOAWAY (upgrades back to back) the error reaches the caller.
		var ue *url.Error
		if errors.As(err, &ue) && strings.HasPrefix(ue.Err.Error(), "http3: conn unusable: ") {
			return outcome{rejected: true}
		}
		return outcome{fail: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return outcome{fail: "read body: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return outcome{fail: resp.Status}
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil || resp.Header.Get("X-Pid") != first {
		return outcome{fail: fmt.Sprintf("body %q, X-Pid %q", b, resp.Header.Get("X-Pid"))}
	}
	return outcome{pid: pid}
}

// check stops the load and fails the test on any failed request or any
// connection that died instead of closing after GOAWAY; it logs what the
// load saw under the name what, and returns the answers per pid.
func (l *load) check(t *testing.T, what string) map[int]int64 {
	t.Helper()
	l.stop()
	answered, failed, errs := l.tally.Counts()
	ends := &connEnds{}
	for _, c := range l.clients {
		ends.merge(c.ends)
	}
	t.Logf("%s: %d requests, %d failed, %d refused unprocessed (H3_REQUEST_REJECTED, or conn unusable after GOAWAY), %d resent by the transport; answers per pid %v; %v",
		what, len(l.answers), failed, l.rejected.Load(), l.retries.Load(), answered, ends)
	if failed > 0 {
		t.Errorf("%d requests failed: %v", failed, errs)
	}
	if n := ends.died(); n > 0 {
		t.Errorf("%d connections died instead of closing after GOAWAY: %v", n, ends)
	}
	return answered
}

// stop ends the load once the requests in flight are done. Calling it
// again does nothing.
func (l *load) stop() {
	l.stopOnce.Do(l.end)
}

func (l *load) end() {
	l.quit.Store(true)
	l.wg.Wait()
	for _, c := range l.clients {
		c.close()
	}
}

// report is what a run of runUpgrades saw.
type report struct {
	handovers        string // what moved the load: "upgrades" (the default), "takeovers"
	generations      []int
	took             time.Duration
	requests, failed int64
	retries          int64
	rejected         int64
	errs             []string
	pids             map[int]int64
	inFlight         int   // answers by a generation after its successor answered
	inFlightPer      []int // ... per upgrade
	failedPer        []int // failures per upgrade: of requests sent while the old generation was the newest
	stalled          int   // answered requests that took over stall
	stalledPer       []int // ... per upgrade, as failedPer
	ends             *connEnds
}

// kind is what moved the load, "upgrades" unless said.
func (r report) kind() string {
	if r.handovers == "" {
		return "upgrades"
	}
	return r.handovers
}

// checkNothingLost fails t unless the run lost nothing: no request failed,
// every generation answered, some request was in flight at a handover
// (answered by the old generation after the new one answered: else the
// test proves nothing), no connection died instead of closing after
// GOAWAY, and, with wantGoaway, some did close after GOAWAY.
func (r report) checkNothingLost(t *testing.T, wantGoaway bool) {
	t.Helper()
	if r.failed > 0 {
		t.Errorf("%d of %d requests failed across %d %s: %v", r.failed, r.requests, len(r.generations)-1, r.kind(), r.errs)
	}
	for _, g := range r.generations {
		if r.pids[g] == 0 {
			t.Errorf("pid %d answered no request", g)
		}
	}
	if r.inFlight == 0 {
		t.Errorf("no request was in flight at any of the %s (answered by the old generation after the new one answered): the test proves nothing", r.kind())
	}
	if n := r.ends.died(); n > 0 {
		t.Errorf("%d connections died during the run instead of closing after GOAWAY: %v", n, r.ends)
	}
	if wantGoaway && r.ends.goaway == 0 {
		t.Errorf("no connection was closed after GOAWAY: %v", r.ends)
	}
}

func (r report) String() string {
	handovers := r.kind()
	return fmt.Sprintf("%d %s in %v: %d requests, %d failed, %d refused unprocessed (H3_REQUEST_REJECTED or conn unusable: GOAWAY race), "+
		"%d resent by the transport, %d pids answered; "+
		"%d answered by the old generation after the new one answered (per upgrade %v); %d answered after over %v (per upgrade %v); %v; first failures: %v",
		len(r.generations)-1, handovers, r.took.Round(time.Millisecond), r.requests, r.failed, r.rejected, r.retries, len(r.pids),
		r.inFlight, r.inFlightPer, r.stalled, stall, r.stalledPer, r.ends, r.errs)
}

// stall is how long a request takes before the report counts it as
// stalled (lost datagrams, recovered by QUIC's retransmission, or not):
// /slow takes 300 ms, the rest a few.
const stall = time.Second

// runUpgrades runs the load (3 clients, 3 loops each) through n upgrades
// by SIGHUP, each waiting for the old generation to exit and the new one
// to answer.
func runUpgrades(t *testing.T, n int, flags ...string) report {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	flags = append(flags, "-probation", "300ms", "-drain-timeout", "3s")
	s, url, tlsConf := startServer(t, ctx, flags...)
	l := startLoad(url, tlsConf, 3, 3)
	defer l.stop()
	start := time.Now()
	generations := s.Upgrades(ctx, n, l.tally.WaitAnswer)
	return l.report(generations, time.Since(start))
}

// report stops the load and sums up what it saw across the handovers
// from each of generations (pids, the first included) to the next: an
// upgrade's or a takeover's, taking took in all.
func (l *load) report(generations []int, took time.Duration) report {
	l.stop()
	ends := &connEnds{}
	pids, failed, errs := l.tally.Counts()
	r := report{generations: generations, took: took, failed: failed, errs: errs, pids: pids,
		retries: l.retries.Load(), rejected: l.rejected.Load(), ends: ends}
	for _, c := range l.clients {
		ends.merge(c.ends)
	}
	r.requests = int64(len(l.answers))
	first := map[int]time.Time{}
	for _, a := range l.answers {
		if a.pid != 0 {
			if f, ok := first[a.pid]; !ok || a.end.Before(f) {
				first[a.pid] = a.end
			}
		}
	}
	for i := 1; i < len(generations); i++ {
		old, cut := generations[i-1], first[generations[i]]
		from := l.start
		if i > 1 {
			from = first[old]
		}
		late, lost, slow := 0, 0, 0
		for _, a := range l.answers {
			sent := !a.start.Before(from) && a.start.Before(cut)
			if a.pid == old && a.end.After(cut) {
				late++
			}
			if sent && a.fail != "" {
				lost++
			}
			if sent && a.pid != 0 && a.end.Sub(a.start) > stall {
				slow++
			}
		}
		r.inFlight += late
		r.inFlightPer = append(r.inFlightPer, late)
		r.failedPer = append(r.failedPer, lost)
		r.stalled += slow
		r.stalledPer = append(r.stalledPer, slow)
	}
	return r
}

func TestMain(m *testing.M) { testserver.Main(m) }

// Upgrades back to back: each new generation is upgraded as soon as it is
// ready, while the older ones still drain, so that a generation can drain
// before its own predecessor's links reached it (it waits for them, then
// passes them on with its own: the newest links to every live older
// generation). No request fails, no connection dies.
func TestHTTP3BackToBackUpgrades_NoFailedRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, url, tlsConf := startServer(t, ctx, "-probation", "100ms", "-drain-timeout", "5s", "-max-draining", "8")
	l := startLoad(url, tlsConf, 3, 3)
	defer l.stop()
	if err := l.tally.WaitAnswer(ctx, s.FirstPID); err != nil {
		t.Fatal(err)
	}
	generations := []int{s.FirstPID}
	for i := range 6 {
		next, status := s.Upgrade(ctx, generations[len(generations)-1])
		if !strings.Contains(status, "serving") {
			t.Fatalf("upgrade %d: STATUS=%q", i+1, status)
		}
		generations = append(generations, next)
	}
	newest := generations[len(generations)-1]
	if err := l.tally.WaitAnswer(ctx, newest); err != nil {
		t.Fatal(err)
	}
	for _, g := range generations[:len(generations)-1] {
		if err := testserver.WaitExit(ctx, g); err != nil {
			t.Fatalf("generation %d did not finish its drain: %v", g, err)
		}
		s.PIDs.Gone(g)
	}
	l.check(t, "6 upgrades back to back")
}

// A new generation that dies in probation never had the socket: the old
// one never stopped reading it, so its connections lose nothing, it takes
// new ones at once after the rollback, and the next upgrade routes as
// usual.
func TestHTTP3RollbackInProbation_OldKeepsServing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, url, tlsConf := startServer(t, ctx, "-probation", "5s", "-drain-timeout", "3s")
	first := s.FirstPID
	l := startLoad(url, tlsConf, 2, 3)
	defer l.stop()
	if err := l.tally.WaitAnswer(ctx, first); err != nil {
		t.Fatal(err)
	}
	doomed, _ := s.Upgrade(ctx, first)
	if err := syscall.Kill(doomed, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	back, status := s.WaitReady(ctx, "READY=1 after the rollback", func(_ int, status string) bool {
		return strings.Contains(status, "rolled back")
	})
	if back != first {
		t.Fatalf("after the rollback MAINPID=%d STATUS=%q, want the first generation %d", back, status, first)
	}
	fresh := newH3Client(tlsConf)
	pid, err := fresh.pid(ctx, url)
	fresh.close()
	if err != nil || pid != first {
		t.Fatalf("a new connection after the rollback: pid %d, %v; want %d", pid, err, first)
	}
	// The rollback may have said READY=1 (MAINPID the first) once more
	// than WaitReady read: the new generation's is the one naming another
	// pid (and reading it is what records that pid for the cleanup).
	testserver.Hangup(t, first)
	next, _ := s.WaitReady(ctx, "the next generation's READY=1", func(pid int, _ string) bool { return pid != first })
	if err := l.tally.WaitAnswer(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := testserver.WaitExit(ctx, first); err != nil {
		t.Fatal(err)
	}
	s.PIDs.Gone(first)
	answered := l.check(t, "rollback, then an upgrade")
	if answered[doomed] != 0 {
		t.Errorf("the generation killed in probation answered %d requests: it read the socket", answered[doomed])
	}
}

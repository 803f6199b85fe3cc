//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// Under `handoff run --takeover S --listen h3=udp://ADDR`, three times a
// new supervisor, started by the test as an unrelated process, takes the
// UDP socket over through S. The serving supervisor introduces its worker
// to the newcomer's first worker, which connects to it as a successor in
// a same-supervisor upgrade would: the QUIC link forms on that channel,
// and the old worker's connections keep their datagrams until they close
// after GOAWAY. The non-retrying load of the other tests runs throughout:
// no request fails (the GOAWAY race counted apart), every newcomer's
// worker answers, every old supervisor exits 0 after its worker, requests
// in flight on the old worker's connections are answered by it after the
// newcomer's worker answered, no connection dies, and the old worker got
// datagrams over the link (its "routing ended" from_link count).
func TestHTTP3UnderSupervisorTakeovers_NoFailedRequests(t *testing.T) {
	ctx := testserver.Deadline(t, 120*time.Second)
	rig := newSupervisedTakeoverRig(t)
	a, first, l := rig.startUnderLoad(ctx)
	defer l.stop()
	start := time.Now()
	workers := []int{first}
	sups := []*supervisedRun{a}
	for i := 1; i <= 3; i++ {
		began := time.Now()
		n := rig.start(fmt.Sprintf("n%d", i))
		w := servingWorker(t, ctx, n.client, rig.pids)
		ready := time.Since(began)
		if err := l.tally.WaitAnswer(ctx, w); err != nil {
			t.Fatalf("takeover %d: the newcomer's worker (pid %d) never answered: %v", i, w, err)
		}
		old, oldWorker := sups[len(sups)-1], workers[len(workers)-1]
		if err := old.exit(ctx); err != nil {
			t.Fatalf("takeover %d: the old supervisor: %v", i, err)
		}
		if err := testserver.WaitExit(ctx, oldWorker); err != nil {
			t.Fatalf("takeover %d: the old supervisor's worker (pid %d) outlived it: %v", i, oldWorker, err)
		}
		rig.pids.Gone(oldWorker)
		t.Logf("takeover %d: supervisor pid %d, its worker %d serving %v after its start; supervisor %d and its worker %d gone %v after it",
			i, n.pid, w, ready.Round(time.Millisecond), old.pid, oldWorker, time.Since(began).Round(time.Millisecond))
		workers = append(workers, w)
		sups = append(sups, n)
	}
	r := l.report(workers, time.Since(start))
	r.handovers = "takeovers under the supervisor"
	t.Log(r)
	r.checkNothingLost(t, true)
	// The routing, not luck: each old worker passed the socket and its
	// links to the newcomer's worker over their handover channel, the
	// newcomer's read the socket with them, and datagrams of the old
	// worker's connections reached it over the link.
	for i, s := range sups[:len(sups)-1] {
		// An exit does not wait for what was written last to be copied
		// from the pipe: wait for the worker's last line.
		if err := s.stderr.wait(ctx, "handoff: quic: routing ended"); err != nil {
			t.Errorf("worker %d (supervisor %d) never said its routing ended: %v", workers[i], s.pid, err)
		}
		log := s.stderr.String()
		if !strings.Contains(log, "handoff: quic: socket handed to the new generation") {
			t.Errorf("worker %d (supervisor %d) never handed its QUIC socket to the newcomer's", workers[i], s.pid)
		}
		if n := fromLink(log); n == 0 {
			t.Errorf("worker %d (supervisor %d) got no datagram over the link from the newcomer's", workers[i], s.pid)
		} else {
			t.Logf("worker %d: %d datagrams of its connections routed to it by the newcomer's", workers[i], n)
		}
	}
	for i, s := range sups[1:] {
		if log := s.stderr.String(); !strings.Contains(log, "handoff: quic: reading the socket") || strings.Contains(log, "without links") {
			t.Errorf("the newcomer's worker %d (supervisor %d) did not read the socket with its predecessor's links", workers[i+1], s.pid)
		}
	}
	last := sups[len(sups)-1]
	if err := syscall.Kill(last.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := last.exit(ctx); err != nil {
		t.Errorf("the last supervisor, stopped: %v", err)
	}
}

// Takeovers back to back under the supervisor: four newcomers, each
// started as soon as the one before has a serving worker (it listens on
// S), so that it takes over while the older supervisors' workers still
// drain: each worker passes on the links it got with its own, as in
// back-to-back upgrades. No request fails, no connection dies, the last
// newcomer's worker answers, every other supervisor exits 0.
func TestHTTP3UnderSupervisorBackToBackTakeovers_NoFailedRequests(t *testing.T) {
	ctx := testserver.Deadline(t, 90*time.Second)
	rig := newSupervisedTakeoverRig(t)
	a, first, l := rig.startUnderLoad(ctx)
	defer l.stop()
	// A stream held on the first worker keeps it draining (to its 3 s
	// drain deadline) while the newcomers take over one after the other,
	// so that they overlap whatever the machine's speed.
	defer holdStream(t, ctx, rig.url, rig.tlsConf, first)()
	sups := []*supervisedRun{a}
	workers := []int{first}
	for i := 1; i <= 4; i++ {
		n := rig.start(fmt.Sprintf("n%d", i))
		workers = append(workers, servingWorker(t, ctx, n.client, rig.pids))
		sups = append(sups, n)
	}
	last := workers[len(workers)-1]
	if err := l.tally.WaitAnswer(ctx, last); err != nil {
		t.Fatalf("the last newcomer's worker (pid %d) never answered: %v", last, err)
	}
	for i, s := range sups[:len(sups)-1] {
		if err := s.exit(ctx); err != nil {
			t.Errorf("a supervisor taken over from: %v", err)
		}
		if err := testserver.WaitExit(ctx, workers[i]); err != nil {
			t.Errorf("worker %d outlived its supervisor: %v", workers[i], err)
		}
		rig.pids.Gone(workers[i])
	}
	l.check(t, "4 supervisor takeovers back to back")
	// Back to back, not one after the other: some newcomer's worker got
	// links to more than one older worker still draining.
	most := 0
	for _, s := range sups[1:] {
		for _, m := range readLinksRE.FindAllStringSubmatch(s.stderr.String(), -1) {
			if n, _ := strconv.Atoi(m[1]); n > most {
				most = n
			}
		}
	}
	t.Logf("the most links a newcomer's worker read the socket with: %d", most)
	if most < 2 {
		t.Errorf("no newcomer's worker got links to two older workers: the takeovers never overlapped, the test proves nothing")
	}
	n := sups[len(sups)-1]
	if err := syscall.Kill(n.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := n.exit(ctx); err != nil {
		t.Errorf("the last supervisor, stopped: %v", err)
	}
}

// fromLinkRE is the count in a worker's "routing ended" log line of the
// datagrams that reached it over a link from its successor.
var fromLinkRE = regexp.MustCompile(`handoff: quic: routing ended"? .*\bfrom_link=(\d+)`)

// fromLink sums the from_link counts in log.
func fromLink(log string) int {
	n := 0
	for _, m := range fromLinkRE.FindAllStringSubmatch(log, -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

// supervisedTakeoverRig is what every `handoff run --takeover S` of a test
// is started with: S, the UDP address, the certificate, the binaries.
type supervisedTakeoverRig struct {
	t          *testing.T
	handoff    string
	app        string
	path       string // S
	addr       string
	url        string
	cert, key  string
	tlsConf    *tls.Config
	pids       *testserver.PIDs
	controlDir string
}

// newSupervisedTakeoverRig builds handoff and http3 and picks S and a free
// UDP port; it starts nothing.
func newSupervisedTakeoverRig(t *testing.T) *supervisedTakeoverRig {
	t.Helper()
	certFile, keyFile, tlsConf := writeCert(t)
	addr := testserver.FreeUDPAddr(t)
	return &supervisedTakeoverRig{t: t, handoff: testserver.Build(t, "../../cmd/handoff"), app: testserver.Build(t, "."),
		path: testserver.PrivateSocketPath(t, "tk.sock"), addr: addr, url: "https://" + addr,
		cert: certFile, key: keyFile, tlsConf: tlsConf, pids: testserver.NewPIDs(t), controlDir: t.TempDir()}
}

// holdStream opens a streaming request, answered by pid, and reads it in
// the background until it ends; the function it returns closes it.
func holdStream(t *testing.T, ctx context.Context, url string, conf *tls.Config, pid int) func() {
	t.Helper()
	c := newH3Client(conf)
	c.client.Timeout = 0 // the stream outlives any per-request timeout; ctx bounds it
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/stream?ms=30000&every=20", nil)
	resp, err := c.client.Do(req)
	if err != nil {
		c.close()
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != strconv.Itoa(pid) {
		resp.Body.Close()
		c.close()
		t.Fatalf("the held stream's first line %q, want pid %d", sc.Text(), pid)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return func() {
		resp.Body.Close()
		c.close()
	}
}

// startUnderLoad starts the first supervisor ("a"), waits for its serving
// worker, and starts the non-retrying load, answered by that worker once
// at least; the caller stops the load.
func (rig *supervisedTakeoverRig) startUnderLoad(ctx context.Context) (a *supervisedRun, first int, l *load) {
	t := rig.t
	t.Helper()
	a = rig.start("a")
	first = servingWorker(t, ctx, a.client, rig.pids)
	l = startLoad(rig.url, rig.tlsConf, 3, 3)
	if err := l.tally.WaitAnswer(ctx, first); err != nil {
		l.stop()
		t.Fatal(err)
	}
	return a, first, l
}

// supervisedRun is one `handoff run --takeover S` the test started.
type supervisedRun struct {
	*child
	client *control.Client
	stderr *lineLog // the supervisor's and its workers' (-v)
}

// start starts `handoff run --takeover S --listen h3=udp://ADDR --control
// DIR/name.ctl -- [wrap...] http3 -v -addr ADDR ...`: the first takes
// nothing and binds, each later one takes over from the one serving.
func (rig *supervisedTakeoverRig) start(name string, wrap ...string) *supervisedRun {
	t := rig.t
	t.Helper()
	ctl := filepath.Join(rig.controlDir, name+".ctl")
	argv := []string{"run", "--takeover", rig.path, "--listen", "h3=udp://" + rig.addr,
		"--control", ctl, "--probation", "300ms", "--drain-timeout", "10s", "--"}
	argv = append(append(argv, wrap...), rig.app, "-v", "-addr", rig.addr, "-cert", rig.cert, "-key", rig.key, "-drain-timeout", "3s")
	cmd := exec.Command(rig.handoff, argv...)
	s := &supervisedRun{client: control.NewClient(ctl), stderr: newLineLog()}
	s.child = startChild(t, cmd, s.stderr, rig.pids) // the workers write to its stderr too
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("supervisor %s (pid %d) and its workers:\n%s", name, s.pid, s.stderr.String())
		}
	})
	return s
}

// Without an introduction (the serving supervisor's worker announced no
// handover socket: its TMPDIR does not exist) nothing routes: the
// newcomer's worker has no predecessor and reads the UDP socket at once
// with a key of its own, and the old worker, which no successor reached,
// reads it on beside it until its drain ends, as a worker draining at a
// stop does. The takeover still completes: the newcomer's worker answers,
// it got no link, and the old supervisor exits 0 after its worker. Each
// worker drops the datagrams of the other's connections that it reads
// (the old one's dropped_foreign): what that costs the load is logged,
// not asserted (docs/HTTP3.md has the measured numbers).
func TestHTTP3UnderSupervisorTakeoverWithoutIntroduction_TakesOverUnrouted(t *testing.T) {
	ctx := testserver.Deadline(t, 60*time.Second)
	rig := newSupervisedTakeoverRig(t)
	missing := filepath.Join(t.TempDir(), "missing")
	a := rig.start("a", "env", "TMPDIR="+missing)
	old := servingWorker(t, ctx, a.client, rig.pids)
	l := startLoad(rig.url, rig.tlsConf, 3, 3)
	defer l.stop()
	if err := l.tally.WaitAnswer(ctx, old); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	b := rig.start("b")
	w := servingWorker(t, ctx, b.client, rig.pids)
	if err := l.tally.WaitAnswer(ctx, w); err != nil {
		t.Fatalf("the newcomer's worker (pid %d) never answered: %v", w, err)
	}
	if err := a.exit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := testserver.WaitExit(ctx, old); err != nil {
		t.Fatalf("the old worker (pid %d) outlived its supervisor: %v", old, err)
	}
	rig.pids.Gone(old)
	r := l.report([]int{old, w}, time.Since(start))
	r.handovers = "takeover without an introduction"
	t.Log(r)
	if r.pids[w] == 0 {
		t.Errorf("the newcomer's worker %d answered no request", w)
	}
	if s := b.stderr.String(); strings.Contains(s, "the serving supervisor introduced its workers") || strings.Contains(s, "handoff: quic: reading the socket") {
		t.Errorf("the newcomer's worker got an introduction or links; the old worker announced no handover socket")
	}
	if err := a.stderr.wait(ctx, "handoff: quic: routing ended"); err != nil {
		t.Logf("the old worker never said its routing ended: %v", err)
	}
	if m := droppedForeignRE.FindStringSubmatch(a.stderr.String()); m != nil {
		t.Logf("the old worker %d dropped %s datagrams of the newcomer's connections while it read the socket beside it", old, m[1])
	}
	if err := syscall.Kill(b.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := b.exit(ctx); err != nil {
		t.Errorf("the newcomer, stopped: %v", err)
	}
}

// readLinksRE is the number of links a worker started reading the socket
// with: its predecessor's and every older generation's still routed.
var readLinksRE = regexp.MustCompile(`handoff: quic: reading the socket"? .*\blinks=(\d+)`)

// droppedForeignRE is the count in a worker's "routing ended" line of the
// datagrams it read whose connection IDs were not made with its key.
var droppedForeignRE = regexp.MustCompile(`handoff: quic: routing ended"? .*\bdropped_foreign=(\d+)`)

//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/testserver"
)

// A takeover (docs/TAKEOVER.md) with HTTP/3: `http3 -takeover S` serves,
// and three times a new `http3 -takeover S`, started by the test as an
// unrelated process (not the serving one's child, no upgrade signal),
// takes the UDP socket over through S. The same non-retrying load as the
// upgrade tests' runs throughout: no request fails (the ones refused
// unprocessed in the GOAWAY race are counted apart, as there), every
// newcomer answers, every old process exits 0 after its drain, requests
// in flight on an old process's connections are answered by it after the
// newcomer answered (its datagrams routed to it), and no connection dies
// instead of closing after GOAWAY.
func TestHTTP3Through3Takeovers_NoFailedRequests(t *testing.T) {
	ctx := testserver.Deadline(t, 120*time.Second)
	rig := startTakeoverRig(t, ctx)
	l, first := rig.startLoad(ctx)
	defer l.stop()
	start := time.Now()
	generations := []int{first}
	logs := []fmt.Stringer{rig.first.Stderr}
	// The old process's end: the first is reaped by testserver; the
	// newcomers are the test's children, whose exit status it reads.
	oldGone := func(ctx context.Context) error { return testserver.WaitExit(ctx, first) }
	for i := 1; i <= 3; i++ {
		began := time.Now()
		n := rig.takeOver(ctx)
		ready := time.Since(began)
		if err := l.tally.WaitAnswer(ctx, n.pid); err != nil {
			t.Fatalf("takeover %d: the newcomer (pid %d) never answered: %v", i, n.pid, err)
		}
		old := generations[len(generations)-1]
		if err := oldGone(ctx); err != nil {
			t.Fatalf("takeover %d: the old process (pid %d) did not end its drain: %v", i, old, err)
		}
		rig.pids.Gone(old)
		t.Logf("takeover %d: newcomer pid %d ready %v after its start; old pid %d gone %v after it",
			i, n.pid, ready.Round(time.Millisecond), old, time.Since(began).Round(time.Millisecond))
		generations = append(generations, n.pid)
		logs = append(logs, n.stderr)
		oldGone = n.exit
	}
	r := l.report(generations, time.Since(start))
	r.handovers = "takeovers"
	t.Log(r)
	r.checkNothingLost(t, true)
	// The routing, not luck: each old process passed the socket and its
	// links over the takeover channel, and each newcomer read the socket
	// with them (a newcomer that got none would read it alone, and the old
	// process's connections would lose their datagrams).
	for i, log := range logs[:len(logs)-1] {
		if !strings.Contains(log.String(), "handoff: quic: socket handed to the new generation") {
			t.Errorf("pid %d never handed its QUIC socket to the newcomer", generations[i])
		}
	}
	for i, log := range logs[1:] {
		if s := log.String(); !strings.Contains(s, "handoff: quic: reading the socket") || strings.Contains(s, "without links") {
			t.Errorf("newcomer pid %d did not read the socket with its predecessor's links", generations[i+1])
		}
	}
}

// Takeovers back to back: six newcomers, each started as soon as the one
// before said READY=1 (it listens on S), so that it takes over from a
// process still in probation, or still waiting for its own predecessor's
// links, while the older ones drain: each passes on the links it got with
// its own, as in back-to-back upgrades. No request fails, no connection
// dies, the last newcomer answers, and every other process exits 0.
func TestHTTP3BackToBackTakeovers_NoFailedRequests(t *testing.T) {
	ctx := testserver.Deadline(t, 90*time.Second)
	rig := startTakeoverRig(t, ctx, "-probation", "100ms", "-drain-timeout", "5s")
	l, first := rig.startLoad(ctx)
	defer l.stop()
	var all []*takeoverNewcomer
	for range 6 {
		all = append(all, rig.takeOver(ctx))
	}
	last := all[len(all)-1]
	if err := l.tally.WaitAnswer(ctx, last.pid); err != nil {
		t.Fatalf("the last newcomer (pid %d) never answered: %v", last.pid, err)
	}
	if err := testserver.WaitExit(ctx, first); err != nil {
		t.Fatalf("the first process (pid %d) did not end its drain: %v", first, err)
	}
	rig.pids.Gone(first)
	for _, n := range all[:len(all)-1] {
		if err := n.exit(ctx); err != nil {
			t.Errorf("a replaced newcomer: %v", err)
		}
	}
	l.check(t, "6 takeovers back to back")
}

// A long busy connection (a streaming response) stays with the process
// taken over from: the newcomer forwards its datagrams to it, and it keeps
// writing until its drain deadline closes the connection, never a
// stateless reset or an idle timeout (keepBusyStream); then it exits.
func TestHTTP3TakeoverBusyConnectionKeptUntilDrainDeadline(t *testing.T) {
	ctx := testserver.Deadline(t, 60*time.Second)
	rig := startTakeoverRig(t, ctx)
	old := rig.first.FirstPID
	keepBusyStream(t, ctx, rig.url, rig.tlsConf, old, func() int { return rig.takeOver(ctx).pid })
	if err := testserver.WaitExit(ctx, old); err != nil {
		t.Fatal(err)
	}
	rig.pids.Gone(old)
}

// A newcomer that dies in probation never read the socket (it waits in
// standby until the old process drains): the process taken over from
// never stopped reading it, so its connections lose nothing, it takes new
// connections at once after the rollback, takes the takeover path back,
// and the next newcomer takes over with the routing as usual.
func TestHTTP3TakeoverNewcomerDiesInProbation_OldKeepsServing(t *testing.T) {
	ctx := testserver.Deadline(t, 60*time.Second)
	rig := startTakeoverRig(t, ctx, "-probation", "5s", "-drain-timeout", "3s")
	first := rig.first.FirstPID
	l := startLoad(rig.url, rig.tlsConf, 2, 3)
	defer l.stop()
	if err := l.tally.WaitAnswer(ctx, first); err != nil {
		t.Fatal(err)
	}
	doomed := rig.takeOver(ctx)
	if err := syscall.Kill(doomed.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := doomed.exit(ctx); err == nil {
		t.Fatalf("the killed newcomer exited 0")
	}
	rig.pids.Gone(doomed.pid)
	back, status := rig.first.WaitReady(ctx, "READY=1 after the rollback", func(_ int, status string) bool {
		return strings.Contains(status, "rolled back")
	})
	if back != first {
		t.Fatalf("after the rollback MAINPID=%d STATUS=%q, want the first process %d", back, status, first)
	}
	fresh := newH3Client(rig.tlsConf)
	pid, err := fresh.pid(ctx, rig.url)
	fresh.close()
	if err != nil || pid != first {
		t.Fatalf("a new connection after the rollback: pid %d, %v; want %d", pid, err, first)
	}
	rig.takeOverFrom(ctx, l, first)
	answered := l.check(t, "a newcomer killed in probation, then a takeover")
	if answered[doomed.pid] != 0 {
		t.Errorf("the newcomer killed in probation answered %d requests: it read the socket", answered[doomed.pid])
	}
}

// Across pid namespaces: the first newcomer runs in a mount and pid
// namespace of its own (unshare; pid 1 there, its answers say 1), sharing
// the socket directory and the network namespace; the second, a host
// process, takes over from it, invisible to it (the kernel reports pid 0:
// only the channel tells that it lives). The routing links are
// descriptors on the channel, so the namespaces change nothing: no
// request fails, both newcomers answer, both old processes exit 0.
func TestHTTP3TakeoverAcrossPIDNamespaces_NoFailedRequests(t *testing.T) {
	wrap := testserver.UnshareOrSkip(t)
	ctx := testserver.Deadline(t, 90*time.Second)
	rig := startTakeoverRig(t, ctx)
	l, first := rig.startLoad(ctx)
	defer l.stop()
	// No NOTIFY_SOCKET: its READY=1 would say MAINPID=1, a pid no cleanup
	// may ever signal. It serves when its answers (pid 1) arrive.
	inside := rig.start(wrap, "")
	if err := l.tally.WaitAnswer(ctx, 1); err != nil {
		t.Fatalf("the newcomer in its own pid namespace never answered: %v", err)
	}
	if err := testserver.WaitExit(ctx, first); err != nil {
		t.Fatal(err)
	}
	rig.pids.Gone(first)
	host := rig.takeOver(ctx)
	if err := l.tally.WaitAnswer(ctx, host.pid); err != nil {
		t.Fatalf("the host newcomer (pid %d) never answered: %v", host.pid, err)
	}
	if err := inside.exit(ctx); err != nil {
		t.Fatalf("the newcomer in its own pid namespace (unshare pid %d): %v", inside.pid, err)
	}
	l.check(t, "a takeover into a pid namespace, and one out of it")
}

// Takeovers and self-upgrades mixed: a newcomer takes over, upgrades
// itself by SIGHUP (its child inherits the socket and the takeover path,
// and gets the routing links over its own handover channel), and another
// newcomer takes over from that child. Each handover routes the old
// connections: no request fails, the requests in flight at each one are
// answered by the old process, every process answers, and each old one
// exits.
func TestHTTP3TakeoverThenUpgradeThenTakeover_NoFailedRequests(t *testing.T) {
	ctx := testserver.Deadline(t, 90*time.Second)
	rig := startTakeoverRig(t, ctx)
	l, first := rig.startLoad(ctx)
	defer l.stop()
	start := time.Now()
	b := rig.takeOverFrom(ctx, l, first)

	testserver.Hangup(t, b.pid)
	m, err := testserver.NextNotify(ctx, b.events, rig.pids, func(m sdnotify.Message) bool {
		v, _ := m.Get("READY")
		p, _ := m.Get("MAINPID")
		return v == "1" && p != strconv.Itoa(b.pid)
	})
	if err != nil {
		t.Fatalf("no READY=1 from the newcomer's self-upgrade: %v", err)
	}
	v, _ := m.Get("MAINPID")
	child, _ := strconv.Atoi(v)
	if status, _ := m.Get("STATUS"); !strings.Contains(status, "serving") {
		t.Fatalf("the newcomer's self-upgrade: MAINPID=%d STATUS=%q", child, status)
	}
	if err := l.tally.WaitAnswer(ctx, child); err != nil {
		t.Fatalf("the newcomer's child (pid %d) never answered: %v", child, err)
	}
	if err := b.exit(ctx); err != nil {
		t.Fatalf("the newcomer, upgraded: %v", err)
	}

	d := rig.takeOverFrom(ctx, l, child)
	r := l.report([]int{first, b.pid, child, d.pid}, time.Since(start))
	r.handovers = "handovers (takeover, self-upgrade, takeover)"
	t.Log(r)
	r.checkNothingLost(t, false)
}

// A newcomer that gets ready only after the serving process gave up on it
// (ReadyTimeout), and could not be killed because its pid is not visible
// there (the serving process runs in a pid namespace of its own): its
// Ready finds the serving process still listening, steps back and drains.
// It must never read the UDP socket meanwhile: the serving process still
// reads it, and every datagram the newcomer took would be one the serving
// process's connections lose (its key is not theirs: it drops them). No
// request fails; the newcomer exits 0 having read nothing.
func TestHTTP3TakeoverNewcomerReadyTooLate_NeverReadsTheSocket(t *testing.T) {
	wrap := testserver.UnshareOrSkip(t)
	ctx := testserver.Deadline(t, 60*time.Second)
	rig := newTakeoverRig(t, "-probation", "300ms", "-drain-timeout", "3s", "-ready-timeout", "1s")
	serving := rig.start(wrap, "") // no NOTIFY_SOCKET: it would say MAINPID=1
	l := startLoad(rig.url, rig.tlsConf, 3, 3)
	defer l.stop()
	if err := l.tally.WaitAnswer(ctx, 1); err != nil {
		t.Fatalf("the serving process (pid 1 in its namespace) never answered: %v", err)
	}
	gate := filepath.Join(filepath.Dir(rig.sock), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	late := rig.startExe(testserver.Build(t, "./testdata/late"), nil, "", []string{"LATE_GATE=" + gate})
	if err := serving.stderr.wait(ctx, "not ready within 1s"); err != nil {
		t.Fatal(err)
	}
	// Opening the FIFO for writing lets the newcomer call Ready.
	w, err := os.OpenFile(gate, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := late.exit(ctx); err != nil {
		t.Fatalf("the late newcomer: %v, want 0 after its drain", err)
	}
	// Its exit does not wait for what it wrote last to be copied from the
	// pipe: wait for its drain's last line.
	if err := late.stderr.wait(ctx, "handoff: quic: routing ended"); err != nil {
		t.Errorf("the late newcomer never said its routing ended: %v", err)
	}
	log := late.stderr.String()
	if !strings.Contains(log, "gave up on this one") {
		t.Errorf("the late newcomer did not step back:\n%s", log)
	}
	if strings.Contains(log, "handoff: quic: reading the socket") ||
		!strings.Contains(log, "delivered=0 forwarded=0 from_link=0 dropped_foreign=0 dropped_no_route=0") {
		t.Errorf("the late newcomer read the UDP socket while the serving process did:\n%s", log)
	}
	fresh := newH3Client(rig.tlsConf)
	pid, err := fresh.pid(ctx, rig.url)
	fresh.close()
	if err != nil || pid != 1 {
		t.Fatalf("a new connection after the late newcomer left: pid %d, %v; want the serving process (1)", pid, err)
	}
	answered := l.check(t, "a newcomer ready too late")
	if answered[late.pid] != 0 {
		t.Errorf("the late newcomer answered %d requests", answered[late.pid])
	}
}

// takeoverRig is a serving `http3 -takeover S` and what every newcomer is
// started with: the same UDP address, certificate and takeover path.
type takeoverRig struct {
	t       *testing.T
	exe     string
	flags   []string
	url     string
	tlsConf *tls.Config
	sock    string             // the takeover path
	first   *testserver.Server // nil: not started by startTakeoverRig
	pids    *testserver.PIDs   // every process seen, killed by pid at cleanup
}

// startTakeoverRig starts the first `http3 -takeover S` (newTakeoverRig)
// and waits for its READY=1.
func startTakeoverRig(t *testing.T, ctx context.Context, timing ...string) *takeoverRig {
	t.Helper()
	rig := newTakeoverRig(t, timing...)
	// testserver.Start passes a TCP -addr first; the last -addr wins.
	rig.first = testserver.Start(t, ctx, rig.exe, rig.flags...)
	rig.pids = rig.first.PIDs
	return rig
}

// newTakeoverRig makes what every process is started with: S in a fresh
// 0700 directory, a free UDP port, a certificate, and timing (-probation,
// -drain-timeout; default 300ms and 3s); it starts nothing.
func newTakeoverRig(t *testing.T, timing ...string) *takeoverRig {
	t.Helper()
	certFile, keyFile, tlsConf := writeCert(t)
	addr := testserver.FreeUDPAddr(t)
	sock := testserver.PrivateSocketPath(t, "s")
	rig := &takeoverRig{t: t, exe: testserver.Build(t, "."), url: "https://" + addr, tlsConf: tlsConf,
		sock: sock, pids: testserver.NewPIDs(t),
		flags: []string{"-addr", addr, "-cert", certFile, "-key", keyFile, "-takeover", sock}}
	if len(timing) == 0 {
		timing = []string{"-probation", "300ms", "-drain-timeout", "3s"}
	}
	rig.flags = append(rig.flags, timing...)
	return rig
}

// takeoverNewcomer is a newcomer the test started.
type takeoverNewcomer struct {
	*child
	stderr *lineLog

	// events is its NOTIFY_SOCKET's (takeOver): what its own service
	// manager would hear, the READY=1 of its self-upgrades too.
	events <-chan sdnotify.Message
}

// takeOver starts a new `http3 -v -takeover S` with a NOTIFY_SOCKET of its
// own, as its own unit would, and returns once it said READY=1 there:
// the serving process heard its ready frame and the newcomer listens on S
// for the next one.
func (rig *takeoverRig) takeOver(ctx context.Context) *takeoverNewcomer {
	t := rig.t
	t.Helper()
	socket, events := testserver.ListenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	n := rig.start(nil, socket)
	n.events = events
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-n.done:
			stop()
		case <-wctx.Done():
		}
	}()
	m, err := testserver.NextNotify(wctx, events, rig.pids, func(m sdnotify.Message) bool {
		v, _ := m.Get("READY")
		return v == "1"
	})
	if err != nil {
		select {
		case <-n.done:
			t.Fatalf("newcomer pid %d exited before it was ready (%v); stderr:\n%s", n.pid, n.err, n.stderr.String())
		default:
		}
		t.Fatalf("newcomer pid %d: no READY=1: %v", n.pid, err)
	}
	if v, _ := m.Get("MAINPID"); v != strconv.Itoa(n.pid) {
		t.Fatalf("newcomer pid %d: READY=1 with MAINPID=%q", n.pid, v)
	}
	return n
}

// takeOverFrom is takeOver under the load l from old, a process the test
// does not reap (the rig's first, a self-upgraded child): it waits for
// the newcomer's first answer and for old to end its drain.
func (rig *takeoverRig) takeOverFrom(ctx context.Context, l *load, old int) *takeoverNewcomer {
	t := rig.t
	t.Helper()
	n := rig.takeOver(ctx)
	if err := l.tally.WaitAnswer(ctx, n.pid); err != nil {
		t.Fatalf("the newcomer (pid %d) never answered: %v", n.pid, err)
	}
	if err := testserver.WaitExit(ctx, old); err != nil {
		t.Fatalf("pid %d, taken over from, did not end its drain: %v", old, err)
	}
	rig.pids.Gone(old)
	return n
}

// startLoad starts the non-retrying load on the rig's first process and
// waits for its first answer; it returns the load, for the caller to
// stop, and that process's pid.
func (rig *takeoverRig) startLoad(ctx context.Context) (*load, int) {
	rig.t.Helper()
	l := startLoad(rig.url, rig.tlsConf, 3, 3)
	first := rig.first.FirstPID
	if err := l.tally.WaitAnswer(ctx, first); err != nil {
		l.stop()
		rig.t.Fatal(err)
	}
	return l, first
}

// start starts `http3 -v -takeover S` wrapped by wrap (unshare), with
// NOTIFY_SOCKET=notify (empty: none). Its pid, the wrapper's if any, is
// killed at cleanup.
func (rig *takeoverRig) start(wrap []string, notify string) *takeoverNewcomer {
	rig.t.Helper()
	return rig.startExe(rig.exe, wrap, notify, nil)
}

// startExe is start for exe, a program with http3's flags, with env added.
func (rig *takeoverRig) startExe(exe string, wrap []string, notify string, env []string) *takeoverNewcomer {
	t := rig.t
	t.Helper()
	argv := append(append(append([]string(nil), wrap...), exe, "-v"), rig.flags...)
	n := &takeoverNewcomer{stderr: newLineLog()}
	cmd := exec.Command(argv[0], argv[1:]...)
	// The last value of a variable wins over the test's own.
	cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET="+notify), env...)
	n.child = startChild(t, cmd, n.stderr, rig.pids)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("newcomer pid %d stderr:\n%s", n.pid, n.stderr.String())
		}
	})
	return n
}

// child is a process the test started and reaps: its pid, and cmd.Wait's
// outcome in err once done is closed (its pid is forgotten by then).
type child struct {
	pid  int
	done chan struct{}
	err  error
}

// startChild starts cmd with its stderr copied to log (on a pipe of the
// test's own: testserver.StartPiped), adds its pid to pids for the
// cleanup, and reaps it.
func startChild(t *testing.T, cmd *exec.Cmd, log io.Writer, pids *testserver.PIDs) *child {
	t.Helper()
	r := testserver.StartPiped(t, cmd)
	go func() {
		defer r.Close()
		io.Copy(log, r)
	}()
	c := &child{pid: cmd.Process.Pid, done: make(chan struct{})}
	pids.Add(c.pid)
	go func() {
		c.err = cmd.Wait()
		pids.Gone(c.pid)
		close(c.done)
	}()
	return c
}

// exit waits (bounded by ctx) for the process to exit, and fails unless
// it exited 0, as a drained process does.
func (c *child) exit(ctx context.Context) error {
	select {
	case <-c.done:
		if c.err != nil {
			return fmt.Errorf("pid %d exited with %w", c.pid, c.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pid %d still runs: %w", c.pid, ctx.Err())
	}
}

// lineLog is what a process wrote to stderr, with a wait for a line.
type lineLog struct {
	mu     sync.Mutex
	text   strings.Builder
	change chan struct{} // closed and replaced at every write
}

func newLineLog() *lineLog { return &lineLog{change: make(chan struct{})} }

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.text.Write(p)
	close(l.change)
	l.change = make(chan struct{})
	return len(p), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// wait returns once the log holds text, or ctx's error.
func (l *lineLog) wait(ctx context.Context, text string) error {
	for {
		l.mu.Lock()
		found, change := strings.Contains(l.text.String(), text), l.change
		l.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-change:
		case <-ctx.Done():
			return fmt.Errorf("no %q in the log: %w", text, ctx.Err())
		}
	}
}

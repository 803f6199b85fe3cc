//go:build linux

package handoff_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/systemdtest"
	"github.com/handoff-go/handoff/internal/testserver"
)

// Takeover (docs/TAKEOVER.md): every newcomer here is the test's own child,
// started beside the serving hello as a deploy of app@green beside app@blue
// would be; the serving process never starts anything.

// takeoverPath is a takeover socket path in a fresh 0700 directory, short
// enough for sun_path (108 bytes) with the temporary name beside it.
func takeoverPath(t *testing.T) string {
	t.Helper()
	return testserver.PrivateSocketPath(t, "s")
}

// newcomer is a process the test started to take over.
type newcomer struct {
	*server
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
}

// startNewcomer starts argv (wrapped by wrap: unshare, setpriv) with env
// added and without the test's NOTIFY_SOCKET (a newcomer in its own pid
// namespace would report MAINPID=1, which no cleanup may ever signal). Its
// pid, the wrapper's if any, is killed at cleanup.
func startNewcomer(t *testing.T, s *server, wrap, env []string, argv ...string) *newcomer {
	t.Helper()
	argv = append(append([]string(nil), wrap...), argv...)
	n := &newcomer{
		server: &server{t: t, exe: s.exe, addr: s.addr, stderr: &testserver.SyncBuffer{}, pids: s.pids},
		done:   make(chan struct{}),
	}
	n.cmd = exec.Command(argv[0], argv[1:]...)
	// The last value of a variable wins: NOTIFY_SOCKET is emptied.
	n.cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET="), env...)
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.pids.Add(n.cmd.Process.Pid)
	go func() {
		n.err = n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("newcomer %v stderr:\n%s", argv, n.stderr.String())
		}
	})
	return n
}

// startHelloNewcomer starts hello -takeover sock on s's address.
func startHelloNewcomer(t *testing.T, s *server, sock string, wrap []string, extra ...string) *newcomer {
	t.Helper()
	args := append([]string{s.exe, "-v", "-takeover", sock, "-probation", "200ms"}, extra...)
	return startNewcomer(t, s, wrap, nil, append(args, "-addr", s.addr)...)
}

// startFaultyNewcomer starts a faulty program (testdata/faulty) that reads
// the takeover path from HANDOFF_TAKEOVER.
func startFaultyNewcomer(t *testing.T, s *server, sock, mode string) *newcomer {
	t.Helper()
	exe := filepath.Join(buildBinaries(t), "faulty-"+mode)
	return startNewcomer(t, s, nil, []string{"HANDOFF_TAKEOVER=" + sock}, exe, "-addr", s.addr)
}

// exit waits for the newcomer to exit and returns cmd.Wait's error.
func (n *newcomer) exit(d time.Duration) error {
	n.t.Helper()
	select {
	case <-n.done:
		n.pids.Gone(n.cmd.Process.Pid)
		return n.err
	case <-time.After(d):
		n.t.Fatalf("newcomer pid %d still runs after %v; stderr:\n%s", n.cmd.Process.Pid, d, n.stderr.String())
		return nil
	}
}

// servingPID is the pid the newcomer's answers carry once it listens on
// the takeover path: its own, or 1 in a pid namespace of its own.
func (n *newcomer) servingPID(wrapped bool) int {
	n.t.Helper()
	n.waitLog("handoff: takeover: listening", 60*time.Second)
	if wrapped {
		return 1
	}
	return n.cmd.Process.Pid
}

// The bar: hello -takeover S, then five times a new hello
// -takeover S started by the test under non-retrying mixed load with held
// keep-alive connections: no request fails, the held connections are
// answered by each newcomer on the same TCP connection, and each old
// process is gone after its drain.
func TestTakeover_FiveNewcomersUnderLoad_NoFailedRequests(t *testing.T) {
	testTakeovers(t, nil)
}

// The same with every other newcomer in a mount and pid namespace of its
// own, sharing only the socket directory (and the network namespace) with
// the serving process: its pid is 1 there and invisible to an old process
// inside such a namespace; only the uid is checked across.
func TestTakeover_NewcomerInItsOwnMountAndPIDNamespace(t *testing.T) {
	testTakeovers(t, testserver.UnshareOrSkip(t))
}

func testTakeovers(t *testing.T, wrap []string) {
	sock := takeoverPath(t)
	s := startHello(t, "-takeover", sock, "-probation", "200ms")
	load := startLoad(t, s.addr)
	held := testserver.Hold(t, s.addr, 50, 200*time.Millisecond)
	held.WaitAll(t, s.cmd.Process.Pid, "before the first takeover", 15*time.Second)
	load.Settle(t, 100)
	var old *newcomer // nil: s, the first
	for i := 1; i <= 5; i++ {
		var w []string
		if i%2 == 1 {
			w = wrap // rounds 1, 3, 5: answers alternate between pid 1 and a host pid
		}
		start := time.Now()
		n := startHelloNewcomer(t, s, sock, w)
		pid := n.servingPID(w != nil)
		moved := held.WaitAll(t, pid, fmt.Sprintf("takeover %d", i), 30*time.Second)
		if old == nil {
			waitExit(t, s.cmd.Process.Pid, 60*time.Second)
		} else if err := old.exit(60 * time.Second); err != nil {
			t.Fatalf("takeover %d: the old process exited with %v", i, err)
		}
		t.Logf("takeover %d: newcomer answers as pid %d; held connections all moved %v after it listened (%v after start); the old one is gone",
			i, pid, moved.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		load.Settle(t, 100)
		old = n
	}
	r := load.stop()
	n := held.Check(t)
	t.Logf("load: %s; held connections: %d requests answered", r, n)
	if r.failed() {
		t.Fatalf("requests failed across the takeovers: %s", r)
	}
}

// startTakeoverUnderLoad starts hello -takeover on a fresh path with the
// probation given, and the mixed non-retrying load on it, settled.
func startTakeoverUnderLoad(t *testing.T, probation string) (sock string, s *server, l *load) {
	t.Helper()
	sock = takeoverPath(t)
	s = startHello(t, "-takeover", sock, "-probation", probation)
	l = startLoad(t, s.addr)
	l.Settle(t, 100)
	return sock, s, l
}

// A newcomer taken over in its turn while the process it took over from is
// still in its probation window for it (3 s there, 200 ms here) stops
// only once that process has finished with it. Closing the channel sooner
// looks there like a crash in probation: that process would roll back and
// serve again beside the newest one (seen under churn, where timers slip).
func TestTakeover_SupersededWithinItsPredecessorsProbation_NoRollback(t *testing.T) {
	sock, s, load := startTakeoverUnderLoad(t, "3s")
	b := startHelloNewcomer(t, s, sock, nil)
	b.servingPID(false)
	c := startHelloNewcomer(t, s, sock, nil)
	c.servingPID(false)
	b.waitLog("handoff: draining: the new generation passed probation", 20*time.Second)
	s.waitLog("handoff: draining: the new generation passed probation", 20*time.Second)
	waitExit(t, s.cmd.Process.Pid, 30*time.Second)
	if err := b.exit(30 * time.Second); err != nil {
		t.Fatalf("the newcomer taken over from: %v", err)
	}
	if strings.Contains(s.stderr.String(), "rolled back") {
		t.Fatalf("the first process rolled back:\n%s", s.stderr.String())
	}
	load.Settle(t, 100)
	wantServedBy(t, s.addr, c.cmd.Process.Pid)
	if r := load.stop(); r.failed() {
		t.Fatalf("requests failed: %s", r)
	}
}

// Under churn: ten newcomers back to back, each started as soon as the one
// before listens on the path, so that its predecessor is still in
// probation or draining while it takes over. No request of the mixed
// non-retrying load fails, and every process but the last is gone.
func TestTakeover_BackToBackUnderChurn_NoFailedRequests(t *testing.T) {
	sock, s, load := startTakeoverUnderLoad(t, "100ms")
	var all []*newcomer
	for i := 0; i < 10; i++ {
		n := startHelloNewcomer(t, s, sock, nil)
		n.servingPID(false)
		all = append(all, n)
	}
	load.Settle(t, 200)
	last := all[len(all)-1]
	wantServedBy(t, s.addr, last.cmd.Process.Pid)
	waitExit(t, s.cmd.Process.Pid, 60*time.Second)
	for _, n := range all[:len(all)-1] {
		if err := n.exit(60 * time.Second); err != nil {
			t.Errorf("pid %d exited with %v", n.cmd.Process.Pid, err)
		}
	}
	r := load.stop()
	t.Logf("ten takeovers back to back: %s", r)
	if r.failed() {
		t.Fatalf("requests failed under churn: %s", r)
	}
}

// A newcomer that fails in each way a deploy can go wrong: the serving
// process keeps serving under load, reports why, and the takeover path is
// its own again: a good newcomer takes over afterwards.
func TestTakeover_FaultyNewcomer_ServingOneKeepsServing(t *testing.T) {
	cases := []struct {
		name     string
		mode     string   // testdata/faulty
		flags    []string // the serving hello's
		want     []string // in its log
		rollback bool
	}{
		{"exits before ready", "exit1", nil, []string{"takeover failed", "exited before it was ready"}, false},
		{"never ready", "hang", []string{"-ready-timeout", "1.5s"}, []string{"takeover failed", "not ready within 1.5s"}, false},
		{"dies in probation", "probation", []string{"-probation", "1s"}, []string{"rolled back", "died in probation"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sock := takeoverPath(t)
			s := startHello(t, append([]string{"-takeover", sock}, c.flags...)...)
			first := s.cmd.Process.Pid
			load := startLoad(t, s.addr)
			load.Settle(t, 200)
			f := startFaultyNewcomer(t, s, sock, c.mode)
			// The faulty process ends by itself, or is killed (never
			// ready: its pid is visible here, so its pidfd is signalled).
			f.exit(60 * time.Second)
			s.waitLog(c.want[len(c.want)-1], 30*time.Second)
			load.Settle(t, 200)
			wantServedBy(t, s.addr, first)
			report := load.stop()
			t.Logf("%s", report)
			if !hasAll(s.stderr.String(), c.want...) {
				t.Errorf("failure not reported: want %q in the serving one's log:\n%s", c.want, s.stderr.String())
			}
			report.checkFailedUpgrade(t, c.rollback)
			n := startHelloNewcomer(t, s, sock, nil)
			pid := n.servingPID(false)
			waitExit(t, first, 60*time.Second)
			wantServedBy(t, s.addr, pid)
		})
	}
}

// A newcomer that gets ready only after the serving process gave up on it
// (ReadyTimeout), when the serving process cannot kill it: it runs in a
// pid namespace of its own, so the newcomer's pid is not visible to it.
// The newcomer finds it still listening, steps back and drains; the
// serving process never stopped serving. Never two processes that each
// think they took over.
func TestTakeover_NewcomerReadyTooLate_StepsBackServingOneServesOn(t *testing.T) {
	wrap := testserver.UnshareOrSkip(t)
	sock := takeoverPath(t)
	base := &server{t: t, exe: filepath.Join(buildBinaries(t), "hello"), addr: testserver.FreeAddr(t), pids: testserver.NewPIDs(t)}
	s := startHelloNewcomer(t, base, sock, wrap, "-ready-timeout", "1s")
	s.servingPID(true)
	load := startLoad(t, s.addr)
	load.Settle(t, 100)
	gate := filepath.Join(filepath.Dir(sock), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(buildBinaries(t), "faulty-late")
	late := startNewcomer(t, s.server, nil, []string{"HANDOFF_TAKEOVER=" + sock, "FAULTY_GATE=" + gate}, exe, "-addr", s.addr)
	s.waitLog("not ready within 1s", 30*time.Second)
	// Opening the FIFO for writing lets the newcomer call Ready.
	w, err := os.OpenFile(gate, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := late.exit(30 * time.Second); err != nil {
		t.Fatalf("the late newcomer: %v, want exit 0 after its drain; stderr:\n%s", err, late.stderr.String())
	}
	if !hasAll(late.stderr.String(), "handoff: ready", "takeover failed") {
		t.Errorf("the late newcomer did not say why it stepped back:\n%s", late.stderr.String())
	}
	load.Settle(t, 100)
	if got := servedBy(t, s.addr); got != 1 {
		t.Fatalf("pid %d served, want the serving process (pid 1 in its namespace)", got)
	}
	if r := load.stop(); r.failed() {
		t.Fatalf("requests failed: %s", r)
	}
}

// The state blob (Options.SaveState) reaches a newcomer intact, as it
// reaches a child at a self-upgrade.
func TestTakeover_StateBlobReachesTheNewcomer(t *testing.T) {
	const size = 8 << 20
	sock := takeoverPath(t)
	env := []string{"HANDOFF_TAKEOVER=" + sock}
	s := startServerEnv(t, "state", env, "-size", fmt.Sprint(size), "-v")
	exe := filepath.Join(buildBinaries(t), "state")
	n := startNewcomer(t, s, nil, env, exe, "-size", fmt.Sprint(size), "-v", "-addr", s.addr)
	n.waitLog(fmt.Sprintf("state: received bytes=%d sha256=%s version=1", size, stateDigest(t, size)), 30*time.Second)
	pid := n.servingPID(false)
	waitExit(t, s.cmd.Process.Pid, 60*time.Second)
	wantServedBy(t, s.addr, pid)
}

// A newcomer that then upgrades itself (SIGHUP) passes the takeover path
// on to its child, which listens there: the next newcomer takes over from
// the child.
func TestTakeover_NewcomerSelfUpgrades_TheChildServesTakeovers(t *testing.T) {
	sock := takeoverPath(t)
	s := startHello(t, "-takeover", sock, "-probation", "200ms")
	n := startHelloNewcomer(t, s, sock, nil)
	npid := n.servingPID(false)
	start0 := time.Now()
	waitExit(t, s.cmd.Process.Pid, 60*time.Second)
	t.Logf("the first %d exited %v after the newcomer listened", s.cmd.Process.Pid, time.Since(start0).Round(time.Millisecond))
	if err := syscall.Kill(npid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n.waitLog("handoff: draining: the new generation passed probation", 60*time.Second)
	child := servedBy(t, s.addr)
	if child == npid {
		t.Fatalf("still served by %d after its upgrade", npid)
	}
	s.pids.Add(child)
	// The newcomer itself drains and exits. Waited for by pid: its stderr
	// pipe stays open in the child, so n.cmd.Wait would wait for that one.
	waitExit(t, npid, 60*time.Second)
	m := startHelloNewcomer(t, s, sock, nil)
	mpid := m.servingPID(false)
	start := time.Now()
	waitExit(t, child, 60*time.Second)
	t.Logf("the self-upgraded child %d exited %v after the last newcomer %d listened", child, time.Since(start).Round(time.Millisecond), mpid)
	wantServedBy(t, s.addr, mpid)
}

// A directory that stops being private (mode 0755) between generations:
// the next generation refuses to listen there, says so, and serves on
// without takeovers; it never crashes.
func TestTakeover_DirectoryNoLongerPrivate_RefusedGenerationServesOn(t *testing.T) {
	sock := takeoverPath(t)
	s := startHello(t, "-takeover", sock, "-probation", "200ms")
	if err := os.Chmod(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	next := s.mustUpgrade(s.cmd.Process.Pid)
	s.waitLog("has mode 0755", 30*time.Second)
	s.waitLog("no takeover socket: a newcomer cannot take over from this process", 30*time.Second)
	wantServedBy(t, s.addr, next)
}

// Two newcomers at once: while one holds the lock (it is taking over and
// never gets ready), the second fails at once with a clear error and a
// non-zero exit, and the serving process never hears of it.
func TestTakeover_TwoNewcomersAtOnce_SecondRefusedServingUntouched(t *testing.T) {
	sock := takeoverPath(t)
	s := startHello(t, "-takeover", sock, "-ready-timeout", "60s")
	first := s.cmd.Process.Pid
	load := startLoad(t, s.addr)
	load.Settle(t, 100)
	startFaultyNewcomer(t, s, sock, "hang")
	s.waitLog("waiting for the newcomer to be ready", 30*time.Second)
	second := startHelloNewcomer(t, s, sock, nil)
	err := second.exit(30 * time.Second)
	if code := exitCode(err); code == 0 || !hasAll(second.stderr.String(), "another process is taking over") {
		t.Fatalf("the second newcomer: exit %v (code %d), want non-zero with the busy error; stderr:\n%s", err, code, second.stderr.String())
	}
	load.Settle(t, 100)
	if hasAll(s.stderr.String(), fmt.Sprintf("newcomer=%d", second.cmd.Process.Pid)) {
		t.Fatalf("the serving process heard of the second newcomer (pid %d):\n%s", second.cmd.Process.Pid, s.stderr.String())
	}
	wantServedBy(t, s.addr, first)
	if r := load.stop(); r.failed() {
		t.Fatalf("requests failed: %s", r)
	}
}

// A newcomer of another uid cannot even use the directory (0700, ours):
// it fails before it connects, and the serving process never hears of it.
// Were it let in, the kernel's word on its uid (SO_PEERCRED) refuses it
// at the handshake (internal/handover's uid tests).
func TestTakeover_NewcomerOfAnotherUID_Refused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("starting a process as nobody needs root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv")
	}
	sock := takeoverPath(t)
	s := startHello(t, "-takeover", sock)
	first := s.cmd.Process.Pid
	// A copy nobody may run (the build directory is private).
	dir, err := os.MkdirTemp("", "tkexe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "hello")
	testserver.Copy(t, s.exe, exe)
	n := startNewcomer(t, s, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, nil,
		exe, "-v", "-takeover", sock, "-addr", s.addr)
	err = n.exit(30 * time.Second)
	if exitCode(err) == 0 || !hasAll(n.stderr.String(), "belongs to uid 0, this process runs as uid 65534") {
		t.Fatalf("newcomer as nobody: exit %v, want non-zero with the directory's owner named; stderr:\n%s", err, n.stderr.String())
	}
	if hasAll(s.stderr.String(), "a newcomer connected") {
		t.Fatalf("the serving process heard of the newcomer of another uid:\n%s", s.stderr.String())
	}
	wantServedBy(t, s.addr, first)
}

// A process that served on the path crashed and left its socket file:
// connect is refused, so the next one starts first (fresh sockets), takes
// the path over, and a newcomer then takes over from it.
func TestTakeover_StaleSocketFileFromACrash_Replaced(t *testing.T) {
	sock := takeoverPath(t)
	crashed := startHello(t, "-takeover", sock)
	crashed.cmd.Process.Kill()
	waitExit(t, crashed.cmd.Process.Pid, 30*time.Second)
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("no stale socket file to test with: %v", err)
	}
	s := startHello(t, "-takeover", sock)
	s.waitLog("stale socket file", 10*time.Second)
	n := startHelloNewcomer(t, s, sock, nil)
	pid := n.servingPID(false)
	waitExit(t, s.cmd.Process.Pid, 60*time.Second)
	wantServedBy(t, s.addr, pid)
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// The blue/green pair of docs/TAKEOVER.md under a real systemd: app@blue
// serves; `systemctl start app@green` returns once green has taken over,
// and blue drains and ends inactive with result success (exit 0: no
// Restart=on-failure); then back to blue, and to green again. No request
// fails, no connection is refused.
func TestSystemd_TakeoverBlueGreen_NoFailedRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := systemdtest.Boot(t, ctx)
	for _, colour := range []string{"blue", "green"} {
		if err := os.Mkdir(filepath.Join(s.Dir, colour), 0o755); err != nil {
			t.Fatal(err)
		}
		testserver.Replace(t, filepath.Join(buildBinaries(t), "hello"), filepath.Join(s.Dir, colour, "hello"))
	}
	// What tmpfiles.d does on a real machine (d /run/app 0700).
	if out, err := s.Exec(ctx, "install", "-d", "-m", "0700", "/run/app"); err != nil {
		t.Fatalf("mkdir /run/app: %v\n%s", err, out)
	}
	s.Install("app@.service", fmt.Sprintf(`[Unit]
DefaultDependencies=no
[Service]
Type=notify
NotifyAccess=main
ExecStart=%s/%%i/hello -v -probation 1s -drain-idle 100ms -addr %s -takeover /run/app/takeover.sock
Restart=on-failure
StandardOutput=append:%s/app.log
StandardError=append:%s/app.log
`, s.Dir, unitAddr, s.Dir, s.Dir))
	s.Systemctl("start", "app@blue.service")
	s.LogOnFailure(t, "app@blue.service", "app.log")
	s.LogOnFailure(t, "app@green.service", "app.log")
	l := s.StartSteadyLoad(t, ctx, unitAddr, 50)
	from := "blue"
	for _, to := range []string{"green", "blue", "green"} {
		old := s.MainPID("app@" + from + ".service")
		start := time.Now()
		s.Systemctl("start", "app@"+to+".service")
		started := time.Since(start)
		pid := s.MainPID("app@" + to + ".service")
		waitUnitDone(t, s, "app@"+from+".service", 60*time.Second)
		if err := l.WaitOK(ctx, 50); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (pid %d) -> %s (pid %d): systemctl start returned after %v; %s inactive, result success, after %v",
			from, old, to, pid, started.Round(time.Millisecond), from, time.Since(start).Round(time.Millisecond))
		from = to
	}
	l.Check(t, "blue/green takeovers under systemd")
}

// waitUnitDone waits until unit is inactive with result success: it
// drained and exited 0, and systemd does not restart it.
func waitUnitDone(t *testing.T, s *systemdtest.System, unit string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	// Polls systemd's state: from outside there is no event to wait on.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.Show(unit, "ActiveState") != "inactive" || s.Show(unit, "Result") != "success" {
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %s, result %s after %v, want inactive and success", unit, s.Show(unit, "ActiveState"), s.Show(unit, "Result"), within)
		}
		<-tick.C
	}
}

// The library's counters (hello -metrics) reach the newcomer as they reach
// a self-upgrade's child: the takeover counts as an upgrade done, and the
// newcomer, generation 2, serves the metrics on the socket it took over.
func TestTakeover_MetricsCountersCarriedToTheNewcomer(t *testing.T) {
	sock := takeoverPath(t)
	s := startHelloMetrics(t, "-takeover", sock, "-probation", "200ms")
	metricsAddr := s.url[len("http://") : len(s.url)-len("/metrics")] // as startHelloMetrics made it
	s.want(t, "before the takeover", map[string]float64{upgrades + `"done"}`: 0, "handoff_generation": 1})
	n := startHelloNewcomer(t, s.server, sock, nil, "-metrics", metricsAddr)
	n.servingPID(false)
	waitExit(t, s.cmd.Process.Pid, 60*time.Second)
	s.want(t, "after the takeover, from the newcomer", map[string]float64{upgrades + `"done"}`: 1, "handoff_generation": 2})
}

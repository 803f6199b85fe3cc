//go:build unix

package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// Binaries built once for the whole test binary, by testserver, into one
// world-readable directory (a test runs handoff as another uid).
var bin struct {
	dir     string
	handoff string // with -race under go test -race: the supervisor is checked too
	hello   string
	many    string // testdata/many: TCP, UDP and unix sockets at once
	state   string // testdata/state: hands a state blob to its successor
}

func TestMain(m *testing.M) { testserver.Main(m, buildBinaries) }

func buildBinaries() error {
	for _, b := range []struct {
		path      *string
		name, pkg string
		flags     []string
	}{
		{&bin.handoff, "handoff", ".", testserver.RaceFlags()},
		{&bin.hello, "hello", "../../examples/hello", nil},
		{&bin.many, "many", "../../testdata/many", nil},
		{&bin.state, "state", "../../testdata/state", nil},
	} {
		p, err := testserver.Binary(b.name, b.pkg, b.flags...)
		if err != nil {
			return err
		}
		*b.path = p
	}
	bin.dir = testserver.Dir()
	return nil
}

// sup is a `handoff run` started by a test.
type sup struct {
	t       testing.TB
	cmd     *exec.Cmd
	ctl     string
	addr    string
	stderr  *testserver.SyncBuffer
	exited  chan struct{}
	waitErr error

	mu   sync.Mutex
	pids map[int]bool // every worker pid seen, to check none is left behind
	// foreignPIDs: status pids are not ours to kill (another pid namespace).
	foreignPIDs bool
}

// startSup runs `handoff run --listen http=tcp://ADDR --control SOCK FLAGS -- PROGRAM...`
// and waits until the first generation serves. Cleanup kills the
// supervisor and every worker it was seen with.
func startSup(t testing.TB, flags []string, program ...string) *sup {
	t.Helper()
	s := launchSup(t, flags, program...)
	s.waitState(func(st control.Status) bool { return st.State == "serving" }, 15*time.Second, "first generation serving")
	return s
}

// startHello is startSup over examples/hello with fastFlags: the
// supervised server most tests need.
func startHello(t testing.TB) *sup {
	t.Helper()
	return startSup(t, fastFlags, bin.hello, "-addr", "ADDR")
}

// launchSup starts the supervisor without waiting for anything; program
// may contain the placeholder ADDR.
func launchSup(t testing.TB, flags []string, program ...string) *sup {
	t.Helper()
	return launchSupWrapped(t, nil, flags, program...)
}

// launchSupWrapped runs the supervisor under wrap (e.g. unshare). Worker
// pids are then the wrapper's business: they may live in another pid
// namespace, where the numbers in the status mean other processes here.
func launchSupWrapped(t testing.TB, wrap []string, flags []string, program ...string) *sup {
	t.Helper()
	dir := t.TempDir()
	s := &sup{
		t:      t,
		ctl:    filepath.Join(dir, "ctl.sock"),
		addr:   "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t)),
		stderr: &testserver.SyncBuffer{},
		exited: make(chan struct{}),
		pids:   map[int]bool{},
	}
	args := []string{"run", "--listen", "http=tcp://" + s.addr, "--control", s.ctl}
	args = append(args, flags...)
	args = append(args, "--")
	for _, p := range program {
		args = append(args, strings.ReplaceAll(p, "ADDR", s.addr))
	}
	s.cmd = exec.Command(bin.handoff, args...)
	if len(wrap) > 0 {
		s.foreignPIDs = true
		s.cmd = exec.Command(wrap[0], append(append(wrap[1:], bin.handoff), args...)...)
	}
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.cleanup(t) })
	return s
}

// cleanup kills the supervisor and every worker pid it named (and each
// one's process group), by pid, and on failure logs what the supervisor
// wrote.
func (s *sup) cleanup(t testing.TB) {
	s.cmd.Process.Kill()
	<-s.exited
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.pids {
		syscall.Kill(-pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if t.Failed() {
		t.Logf("supervisor output:\n%s", s.stderr.String())
	}
}

func (s *sup) client() *control.Client { return control.NewClient(s.ctl) }

// status fetches the status and records the worker pids it names.
func (s *sup) status() (control.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.client().Status(ctx)
	if err == nil && !s.foreignPIDs {
		s.mu.Lock()
		for _, g := range st.Generations {
			for _, w := range g.Workers {
				s.pids[w.PID] = true
			}
		}
		s.mu.Unlock()
	}
	return st, err
}

// waitState polls the status until ok holds, or fails the test at the
// deadline with the last status and the supervisor's output.
func (s *sup) waitState(ok func(control.Status) bool, within time.Duration, what string) control.Status {
	s.t.Helper()
	deadline := time.Now().Add(within)
	var st control.Status
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.t.Fatalf("supervisor exited (%v) while waiting for %s", s.waitErr, what)
		default:
		}
		st, err = s.status()
		if err == nil && ok(st) {
			return st
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	s.t.Fatalf("no %s within %v: last status %+v, err %v", what, within, st, err)
	return st
}

// servingPIDs lists the pids of ready workers of serving generations.
func servingPIDs(st control.Status) []int {
	var out []int
	for _, g := range st.Generations {
		if g.State != "serving" && g.State != "probation" {
			continue
		}
		for _, w := range g.Workers {
			if w.State == "ready" {
				out = append(out, w.PID)
			}
		}
	}
	return out
}

// handoffCmd runs the handoff binary and returns its combined output and
// exit status.
func handoffCmd(t testing.TB, args ...string) (string, int) {
	t.Helper()
	return handoffCmdAs(t, nil, args...)
}

// handoffCmdAs is handoffCmd with the process attributes attr (another
// uid, say).
func handoffCmdAs(t testing.TB, attr *syscall.SysProcAttr, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.handoff, args...)
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("handoff %v: %v", args, err)
	}
	return string(out), code
}

func (s *sup) upgrade(t testing.TB) (string, int) {
	return handoffCmd(t, "upgrade", "--control", s.ctl)
}

// stop asks the supervisor to stop and waits for it to exit.
func (s *sup) stop(t testing.TB) {
	t.Helper()
	if out, code := handoffCmd(t, "stop", "--control", s.ctl); code != 0 {
		t.Fatalf("handoff stop: exit %d: %s", code, out)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor still running 30s after handoff stop")
	}
	if s.waitErr != nil {
		t.Fatalf("supervisor exited with %v", s.waitErr)
	}
}

// shellApp writes script to an executable "app" in a directory of the
// test's own and returns its path: a worker whose behaviour the test picks.
func shellApp(t testing.TB, script string) string {
	t.Helper()
	app := filepath.Join(t.TempDir(), "app")
	testserver.WriteExecutable(t, app, []byte(script))
	return app
}

// exitCode waits (at most within) for the supervisor to exit on its own
// and returns its exit status; it fails the test with why when it runs on.
func (s *sup) exitCode(t testing.TB, within time.Duration, why string) int {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(within):
		t.Fatal(why)
	}
	return s.cmd.ProcessState.ExitCode()
}

// hup sends the supervisor SIGHUP (an upgrade); term, SIGTERM (drain and
// stop).
func (s *sup) hup()  { s.cmd.Process.Signal(syscall.SIGHUP) }
func (s *sup) term() { s.cmd.Process.Signal(syscall.SIGTERM) }

// termTwice sends SIGTERM, waits (at most within) for the supervisor to say
// it is stopping, then sends the second SIGTERM, which stops it at once
// without waiting for the drain; it fails the test with why unless the
// supervisor exits within within after that.
func (s *sup) termTwice(t testing.TB, within time.Duration, why string) {
	t.Helper()
	s.term()
	s.waitState(func(st control.Status) bool { return st.State == "stopping" }, within/2, "stopping")
	s.term()
	s.exitCode(t, within, why)
}

// stopClean stops the supervisor and checks that no worker outlived it.
func (s *sup) stopClean(t testing.TB) {
	t.Helper()
	s.stop(t)
	s.assertNoneLeft(t)
}

// assertNoneLeft checks that every worker pid ever seen is gone.
func (s *sup) assertNoneLeft(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.pids {
		if err := syscall.Kill(pid, 0); err == nil || !errors.Is(err, syscall.ESRCH) {
			t.Errorf("worker pid %d still exists after the supervisor exited", pid)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Flags that keep the suite fast: a short probation and drain.
var fastFlags = []string{"-q", "--probation", "100ms", "--drain-timeout", "10s", "--max-draining", "16"}

// appCopy copies hello to a path of the test's own, so the test can
// replace "the binary on disk" as a deploy would.
func appCopy(t *testing.T) string {
	t.Helper()
	app := filepath.Join(t.TempDir(), "app")
	testserver.Replace(t, bin.hello, app)
	return app
}

func onlyServingPID(t *testing.T, s *sup) int {
	t.Helper()
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	pids := servingPIDs(st)
	if len(pids) != 1 {
		t.Fatalf("want one serving worker, status: %+v", st)
	}
	return pids[0]
}

// python3 resolved to the interpreter itself, not a version manager's shim
// (whose shell wrapper costs 200ms a start).
// example is the absolute path of path under examples/ (a worker script).
func example(t testing.TB, path string) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("../../examples", path))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func python(t testing.TB) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Skipf("python3: %v", err)
	}
	return strings.TrimSpace(string(out))
}

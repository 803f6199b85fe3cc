//go:build linux

package handoff_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/testserver"
)

// buildBinaries builds the programs the integration tests run, once per
// test binary (testserver's cache), and returns their directory.
func buildBinaries(t testing.TB) string {
	t.Helper()
	// HANDOFF_TEST_BINARIES names a directory of these programs built
	// elsewhere (from an older tree, say, to see a test fail before a
	// fix); it is used as is.
	if dir := os.Getenv("HANDOFF_TEST_BINARIES"); dir != "" {
		return dir
	}
	testserver.BuildAs(t, "hello", "./examples/hello")
	testserver.BuildAs(t, "many", "./testdata/many")
	testserver.BuildAs(t, "state", "./testdata/state")
	for _, mode := range []string{"exit1", "panic", "hang", "probation", "late"} {
		testserver.BuildAs(t, "faulty-"+mode, "./testdata/faulty", "-ldflags", "-X main.mode="+mode)
	}
	return testserver.Dir()
}

func TestMain(m *testing.M) {
	if os.Getenv(envFakeSupervisor) != "" {
		os.Exit(fakeSupervisor())
	}
	testserver.Main(m)
}

// server is examples/hello (or another test program) running as a real
// process from a private copy of its binary: a testserver.Server, watched
// through a NOTIFY_SOCKET of the test's own, the way systemd watches a
// Type=notify service: every generation's readiness and every upgrade's
// outcome arrive there as datagrams, so the test waits on events, never on
// sleeps.
type server struct {
	t      testing.TB
	ts     *testserver.Server
	exe    string // the path upgrades start: tests replace this file
	addr   string
	cmd    *exec.Cmd
	events <-chan sdnotify.Message
	stderr *testserver.SyncBuffer
	pids   *testserver.PIDs // every generation seen, killed at cleanup
}

// startHello starts hello from a private copy of the binary and waits until
// it is ready.
func startHello(t testing.TB, extra ...string) *server {
	t.Helper()
	return startServer(t, "hello", extra...)
}

// startServer starts one of the test programs (hello, many) the same way.
func startServer(t testing.TB, program string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, program, nil, extra...)
}

// startServerEnv is startServer with env added to the program's
// environment.
func startServerEnv(t testing.TB, program string, env []string, extra ...string) *server {
	t.Helper()
	exe := filepath.Join(t.TempDir(), program)
	testserver.Replace(t, filepath.Join(buildBinaries(t), program), exe)
	var args []string
	if program == "hello" {
		args = append(args, "-v")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ts := testserver.Launch(t, ctx, exe, env, append(args, extra...)...)
	return &server{t: t, ts: ts, exe: exe, addr: ts.Addr, cmd: ts.Cmd, events: ts.Events, stderr: ts.Stderr, pids: ts.PIDs}
}

func get(m sdnotify.Message, key string) string {
	v, _ := m.Get(key)
	return v
}

// waitFor returns the first event matching ok, failing the test after d.
func (s *server) waitFor(ok func(sdnotify.Message) bool, d time.Duration, what string) sdnotify.Message {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.ts.WaitFor(ctx, fmt.Sprintf("%s within %v", what, d), ok)
}

// upgrade sends SIGHUP to the serving generation and waits for systemd's
// view of the outcome: READY=1 with a MAINPID and a STATUS.
func (s *server) upgrade(servingPid int) (newPid int, status string) {
	s.t.Helper()
	testserver.Hangup(s.t, servingPid)
	return s.nextReady()
}

// mustUpgrade is upgrade that fails the test unless a new generation took
// over; it returns the new generation's pid.
func (s *server) mustUpgrade(servingPid int) int {
	s.t.Helper()
	next, status := s.upgrade(servingPid)
	if next == servingPid {
		s.t.Fatalf("no new generation: %s", status)
	}
	return next
}

// nextReady waits for the next READY=1 and returns its MAINPID and STATUS.
func (s *server) nextReady() (pid int, status string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return s.ts.NextReady(ctx)
}

func hasAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// servedBy answers one request and returns the pid that served it.
func servedBy(t testing.TB, addr string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	pid, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
	return pid
}

// wantServedBy fails the test unless a request to addr is answered by pid.
func wantServedBy(t testing.TB, addr string, pid int) {
	t.Helper()
	if got := servedBy(t, addr); got != pid {
		t.Fatalf("pid %d answered on %s, want pid %d", got, addr, pid)
	}
}

// waitLog waits until the server's stderr has a line containing want.
func (s *server) waitLog(want string, d time.Duration) {
	s.t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d)
	for !strings.Contains(s.stderr.String(), want) {
		select {
		case <-tick.C:
		case <-deadline:
			s.t.Fatalf("no %q in stderr within %v:\n%s", want, d, s.stderr.String())
		}
	}
}

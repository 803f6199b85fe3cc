//go:build linux

package handoff_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
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
)

// binaries holds the programs the integration tests run, built once.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

func buildBinaries(t testing.TB) string {
	t.Helper()
	binaries.once.Do(func() {
		dir, err := os.MkdirTemp("", "handoff-test-bin-*")
		if err != nil {
			binaries.err = err
			return
		}
		binaries.dir = dir
		builds := [][]string{
			{"-o", filepath.Join(dir, "hello"), "./examples/hello"},
			{"-o", filepath.Join(dir, "many"), "./testdata/many"},
			{"-o", filepath.Join(dir, "state"), "./testdata/state"},
		}
		for _, mode := range []string{"exit1", "panic", "hang", "probation"} {
			builds = append(builds, []string{"-ldflags", "-X main.mode=" + mode, "-o", filepath.Join(dir, "faulty-"+mode), "./testdata/faulty"})
		}
		for _, args := range builds {
			cmd := exec.Command("go", append([]string{"build"}, args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				binaries.err = fmt.Errorf("go build %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// server is examples/hello running as a real process, watched through a
// NOTIFY_SOCKET of the test's own, the way systemd watches a Type=notify
// service: every generation's readiness and every upgrade's outcome arrive
// there as datagrams, so the test waits on events, never on sleeps.
type server struct {
	t      testing.TB
	exe    string // the path upgrades start: tests replace this file
	addr   string
	cmd    *exec.Cmd
	events chan sdnotify.Message
	stderr *syncBuffer

	mu   sync.Mutex
	pids map[int]bool // every generation seen, killed at cleanup
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr asks the kernel for a free loopback port.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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
	bin := buildBinaries(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, program)
	copyFile(t, filepath.Join(bin, program), exe)

	recv, err := sdnotify.Listen(filepath.Join(dir, "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, exe: exe, addr: freeAddr(t), events: make(chan sdnotify.Message, 1024), stderr: &syncBuffer{}, pids: map[int]bool{}}
	go func() {
		for {
			d, err := recv.Receive()
			if err != nil {
				close(s.events)
				return
			}
			if d.Err == nil {
				s.events <- d.Msg
			}
		}
	}()
	var args []string
	if program == "hello" {
		args = append(args, "-v")
	}
	args = append(args, extra...)
	args = append(args, "-addr", s.addr)
	s.cmd = exec.Command(exe, args...)
	s.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+recv.Path())
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.track(s.cmd.Process.Pid)
	go s.cmd.Wait() // reap the first generation whenever it exits
	t.Cleanup(func() {
		s.killAll()
		recv.Close()
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	m := s.waitFor(func(m sdnotify.Message) bool { return get(m, "READY") == "1" }, 20*time.Second, "first READY=1")
	if pid, _ := strconv.Atoi(get(m, "MAINPID")); pid != s.cmd.Process.Pid {
		t.Fatalf("first READY=1 has MAINPID=%q, want %d", get(m, "MAINPID"), s.cmd.Process.Pid)
	}
	return s
}

func get(m sdnotify.Message, key string) string {
	v, _ := m.Get(key)
	return v
}

func (s *server) track(pid int) {
	s.mu.Lock()
	s.pids[pid] = true
	s.mu.Unlock()
}

func (s *server) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitFor returns the first event matching ok, failing the test after d.
func (s *server) waitFor(ok func(sdnotify.Message) bool, d time.Duration, what string) sdnotify.Message {
	s.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m, open := <-s.events:
			if !open {
				s.t.Fatalf("notify socket closed while waiting for %s", what)
			}
			if pid, err := strconv.Atoi(get(m, "MAINPID")); err == nil {
				s.track(pid)
			}
			if ok(m) {
				return m
			}
		case <-timeout:
			s.t.Fatalf("no %s within %v; stderr:\n%s", what, d, s.stderr.String())
		}
	}
}

// upgrade sends SIGHUP to the serving generation and waits for systemd's
// view of the outcome: READY=1 with a MAINPID and a STATUS.
func (s *server) upgrade(servingPid int) (newPid int, status string) {
	s.t.Helper()
	if err := syscall.Kill(servingPid, syscall.SIGHUP); err != nil {
		s.t.Fatalf("SIGHUP %d: %v", servingPid, err)
	}
	return s.nextReady()
}

// nextReady waits for the next READY=1 and returns its MAINPID and STATUS.
func (s *server) nextReady() (pid int, status string) {
	s.t.Helper()
	m := s.waitFor(func(m sdnotify.Message) bool { return get(m, "READY") == "1" }, 90*time.Second, "READY=1")
	pid, _ = strconv.Atoi(get(m, "MAINPID"))
	return pid, get(m, "STATUS")
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	// Put a new file in place and rename it over the old one, as a deploy
	// does: the running binary's inode is untouched. A hard link, not a
	// write: a file open for writing in this process leaks into any child
	// forked meanwhile by a parallel test (until its exec), and exec of
	// that file then fails with ETXTBSY (golang/go#22315).
	tmp := to + ".new"
	os.Remove(tmp)
	if err := os.Link(from, tmp); err != nil {
		t.Fatalf("link %s: %v", from, err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
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

//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// The promise for long-lived connections that cannot move: gRPC
// clients through 20 upgrades, zero failed calls. 4 long-lived
// ClientConns, 4 callers on each (one of them making 150 ms calls, so RPCs
// are in flight at every drain), retries disabled, every error counted; each
// old generation answers GracefulStop's GOAWAY by finishing its RPCs while
// the clients reconnect to the new one. Every generation's pid must answer.
func TestGRPCThrough20Upgrades_NoFailedCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := startServer(t, ctx, "-probation", "300ms")
	l, err := startLoad(s.addr, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			l.stop()
		}
	}()

	pid := s.firstPid
	if err := l.waitAnswer(ctx, pid); err != nil {
		t.Fatal(err)
	}
	generations := []int{pid}
	start := time.Now()
	for i := range 20 {
		next, status := s.upgrade(ctx, pid)
		if next == pid || !strings.Contains(status, "serving") {
			t.Fatalf("upgrade %d: MAINPID=%d STATUS=%q", i+1, next, status)
		}
		// The old generation's exit proves GracefulStop ended; an answer
		// from the new one, that the clients moved.
		if err := waitExit(ctx, pid); err != nil {
			t.Fatalf("upgrade %d: %v", i+1, err)
		}
		if err := l.waitAnswer(ctx, next); err != nil {
			t.Fatalf("upgrade %d: %v", i+1, err)
		}
		pid = next
		generations = append(generations, pid)
	}
	took := time.Since(start)
	r := l.stop()
	stopped = true
	t.Logf("20 upgrades in %v: %s", took.Round(time.Millisecond), r)
	if r.Failed > 0 {
		t.Fatalf("%d of %d calls failed across 20 upgrades: %v", r.Failed, r.Calls, r.Errors)
	}
	for _, g := range generations {
		if r.Pids[g] == 0 {
			t.Errorf("generation pid %d answered no call", g)
		}
	}
	if len(r.Pids) != len(generations) {
		t.Errorf("answers came from %d pids, want the %d generations %v", len(r.Pids), len(generations), generations)
	}
}

// ---- running the example as real processes ----

var binary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}

// build builds this example once per test binary.
func build(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "handoff-grpc-test-*")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "grpc")
		if out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// server is the example running as a real process, watched through a
// NOTIFY_SOCKET of the test's own as systemd watches a Type=notify service:
// readiness and every upgrade's outcome arrive as datagrams, so the test
// waits on events, never on sleeps.
type server struct {
	t        *testing.T
	addr     string
	firstPid int
	events   chan sdnotify.Message
	stderr   *syncBuffer

	mu   sync.Mutex
	pids map[int]bool // every generation seen, killed at cleanup
}

func startServer(t *testing.T, ctx context.Context, flags ...string) *server {
	t.Helper()
	exe := build(t)
	recv, err := sdnotify.Listen(filepath.Join(t.TempDir(), "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, addr: freeAddr(t), events: make(chan sdnotify.Message, 1024), stderr: &syncBuffer{}, pids: map[int]bool{}}
	go func() {
		defer close(s.events)
		for {
			d, err := recv.Receive()
			if err != nil {
				return
			}
			if d.Err == nil {
				s.events <- d.Msg
			}
		}
	}()
	cmd := exec.Command(exe, append([]string{"-v", "-addr", s.addr}, flags...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+recv.Path())
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		recv.Close()
		t.Fatal(err)
	}
	s.firstPid = cmd.Process.Pid
	s.track(s.firstPid)
	go cmd.Wait() // reap the first generation whenever it exits
	t.Cleanup(func() {
		s.killAll()
		recv.Close()
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	m := s.waitFor(ctx, "first READY=1", func(m sdnotify.Message) bool { return get(m, "READY") == "1" })
	if pid, _ := strconv.Atoi(get(m, "MAINPID")); pid != s.firstPid {
		t.Fatalf("first READY=1 has MAINPID=%q, want %d", get(m, "MAINPID"), s.firstPid)
	}
	return s
}

// upgrade sends SIGHUP to the serving generation and waits for systemd's
// view of the outcome: READY=1 with a MAINPID and a STATUS.
func (s *server) upgrade(ctx context.Context, servingPid int) (newPid int, status string) {
	s.t.Helper()
	if err := syscall.Kill(servingPid, syscall.SIGHUP); err != nil {
		s.t.Fatalf("SIGHUP %d: %v", servingPid, err)
	}
	m := s.waitFor(ctx, "READY=1 after SIGHUP", func(m sdnotify.Message) bool { return get(m, "READY") == "1" })
	pid, _ := strconv.Atoi(get(m, "MAINPID"))
	return pid, get(m, "STATUS")
}

// waitFor returns the first event matching ok, failing the test when ctx
// is done first.
func (s *server) waitFor(ctx context.Context, what string, ok func(sdnotify.Message) bool) sdnotify.Message {
	s.t.Helper()
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
		case <-ctx.Done():
			s.t.Fatalf("no %s: %v", what, ctx.Err())
		}
	}
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

func get(m sdnotify.Message, key string) string {
	v, _ := m.Get(key)
	return v
}

// waitExit waits for pid to exit (it need not be our child) on a pidfd.
func waitExit(ctx context.Context, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	for {
		ms := -1
		if deadline, ok := ctx.Deadline(); ok {
			ms = int(time.Until(deadline).Milliseconds()) + 1
			if ms <= 0 {
				return fmt.Errorf("pid %d still running: %w", pid, context.DeadlineExceeded)
			}
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll pidfd %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// freeAddr asks the kernel for a free loopback port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
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

//go:build linux

// Package testserver runs an example program as a real process for its
// tests: it builds the program once, starts it with a NOTIFY_SOCKET of the
// test's own (readiness and every upgrade's outcome arrive as sd_notify
// datagrams, so tests wait on events, never on sleeps), upgrades it with
// SIGHUP, and kills every generation it saw, by pid, at cleanup. Linux only
// (waiting for a process that is not our child uses a pidfd).
package testserver

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
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

// Cleanup removes what Build built; call it from TestMain after m.Run.
func Cleanup() {
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
}

// Build builds the package in the current directory (the test's own
// example) once per test binary, as name, and returns its path.
func Build(t *testing.T, name string) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "handoff-"+name+"-test-*")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// Server is the example running as a real process.
type Server struct {
	Addr     string      // the address it was told to listen on (-addr)
	FirstPID int         // the first generation
	Stderr   *SyncBuffer // what every generation wrote to stderr

	t      *testing.T
	events chan sdnotify.Message
	mu     sync.Mutex
	pids   map[int]bool // every generation seen, killed at cleanup
}

// Start runs exe -v -addr ADDR flags... on a free loopback address and
// waits (bounded by ctx) for its first READY=1.
func Start(t *testing.T, ctx context.Context, exe string, flags ...string) *Server {
	t.Helper()
	recv, err := sdnotify.Listen(filepath.Join(t.TempDir(), "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Addr: freeAddr(t), events: make(chan sdnotify.Message, 1024), Stderr: &SyncBuffer{}, pids: map[int]bool{}}
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
	cmd := exec.Command(exe, append([]string{"-v", "-addr", s.Addr}, flags...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+recv.Path())
	cmd.Stderr = s.Stderr
	if err := cmd.Start(); err != nil {
		recv.Close()
		t.Fatal(err)
	}
	s.FirstPID = cmd.Process.Pid
	s.track(s.FirstPID)
	go cmd.Wait() // reap the first generation whenever it exits
	t.Cleanup(func() {
		s.killAll()
		recv.Close()
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.Stderr.String())
		}
	})
	m := s.waitFor(ctx, "first READY=1", func(m sdnotify.Message) bool { return get(m, "READY") == "1" })
	if pid, _ := strconv.Atoi(get(m, "MAINPID")); pid != s.FirstPID {
		t.Fatalf("first READY=1 has MAINPID=%q, want %d", get(m, "MAINPID"), s.FirstPID)
	}
	return s
}

// Upgrade sends SIGHUP to the serving generation and waits for systemd's
// view of the outcome: READY=1 with a MAINPID and a STATUS.
func (s *Server) Upgrade(ctx context.Context, servingPid int) (newPid int, status string) {
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
func (s *Server) waitFor(ctx context.Context, what string, ok func(sdnotify.Message) bool) sdnotify.Message {
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

func (s *Server) track(pid int) {
	s.mu.Lock()
	s.pids[pid] = true
	s.mu.Unlock()
}

func (s *Server) killAll() {
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

// WaitExit waits for pid to exit (it need not be our child) on a pidfd.
func WaitExit(ctx context.Context, pid int) error {
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

// SyncBuffer collects a process's output, safe for concurrent use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

//go:build !windows

package testserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// Server is a program built on the library running as a real process,
// started with a NOTIFY_SOCKET of the test's own: readiness and every
// upgrade's outcome arrive as sd_notify datagrams, so tests wait on events,
// never on sleeps. Every generation it saw is killed, by pid, at cleanup.
type Server struct {
	Addr     string      // the address it was told to listen on (-addr)
	FirstPID int         // the first generation
	Cmd      *exec.Cmd   // the first generation's process, the test's own child
	Stderr   *SyncBuffer // what every generation wrote to stderr

	PIDs *PIDs // every generation seen, killed at cleanup

	// Events is every datagram on the NOTIFY_SOCKET, for a test that
	// watches them all; WaitFor, NextReady and Upgrade read it too.
	Events <-chan sdnotify.Message

	t testing.TB
}

// Start runs exe -addr ADDR -v flags... on a free loopback address and
// waits (bounded by ctx) for its first READY=1.
func Start(t testing.TB, ctx context.Context, exe string, flags ...string) *Server {
	t.Helper()
	return Launch(t, ctx, exe, nil, append([]string{"-v"}, flags...)...)
}

// Launch is Start with env added to exe's environment, and args as they
// are (no -v added): exe -addr ADDR args..., the caller's flags after
// -addr (a program that takes -addr twice, as examples/http3 does, reads
// the harness's first).
func Launch(t testing.TB, ctx context.Context, exe string, env []string, args ...string) *Server {
	t.Helper()
	socket, events := ListenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	s := &Server{t: t, Addr: FreeAddr(t), Events: events, Stderr: &SyncBuffer{}, PIDs: NewPIDs(t)}
	s.Cmd = exec.Command(exe, append([]string{"-addr", s.Addr}, args...)...)
	s.Cmd.Env = append(append(os.Environ(), env...), "NOTIFY_SOCKET="+socket)
	s.Cmd.Stderr = s.Stderr
	if err := s.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.FirstPID = s.Cmd.Process.Pid
	s.PIDs.Add(s.FirstPID)
	go s.Cmd.Wait() // reap the first generation whenever it exits
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.Stderr.String())
		}
	})
	m := s.WaitFor(ctx, "first READY=1", func(m sdnotify.Message) bool { return get(m, "READY") == "1" })
	if pid, _ := strconv.Atoi(get(m, "MAINPID")); pid != s.FirstPID {
		t.Fatalf("first READY=1 has MAINPID=%q, want %d", get(m, "MAINPID"), s.FirstPID)
	}
	return s
}

// Upgrade sends SIGHUP to the serving generation and waits for systemd's
// view of the outcome: READY=1 with a MAINPID and a STATUS.
func (s *Server) Upgrade(ctx context.Context, servingPid int) (newPid int, status string) {
	s.t.Helper()
	Hangup(s.t, servingPid)
	return s.NextReady(ctx)
}

// NextReady waits (bounded by ctx) for the next READY=1 and returns its
// MAINPID and STATUS.
func (s *Server) NextReady(ctx context.Context) (pid int, status string) {
	s.t.Helper()
	m := s.WaitFor(ctx, "READY=1", func(m sdnotify.Message) bool { return get(m, "READY") == "1" })
	pid, _ = strconv.Atoi(get(m, "MAINPID"))
	return pid, get(m, "STATUS")
}

// WaitReady waits (bounded by ctx) for the next READY=1 whose MAINPID and
// STATUS satisfy ok, as a rollback or a failed upgrade reports it after
// the READY=1 that Upgrade returned.
func (s *Server) WaitReady(ctx context.Context, what string, ok func(pid int, status string) bool) (pid int, status string) {
	s.t.Helper()
	m := s.WaitFor(ctx, what, func(m sdnotify.Message) bool {
		p, _ := strconv.Atoi(get(m, "MAINPID"))
		return get(m, "READY") == "1" && ok(p, get(m, "STATUS"))
	})
	pid, _ = strconv.Atoi(get(m, "MAINPID"))
	return pid, get(m, "STATUS")
}

// WaitFor returns the first event matching ok, failing the test when ctx
// is done first.
func (s *Server) WaitFor(ctx context.Context, what string, ok func(sdnotify.Message) bool) sdnotify.Message {
	s.t.Helper()
	m, err := NextNotify(ctx, s.Events, s.PIDs, ok)
	if err != nil {
		s.t.Fatalf("no %s: %v", what, err)
	}
	return m
}

func get(m sdnotify.Message, key string) string {
	v, _ := m.Get(key)
	return v
}

// Upgrades upgrades the serving generation n times, one after the other,
// starting from the first. Each upgrade must report a new MAINPID and a
// STATUS saying it serves; the old generation's exit proves its drain ended
// and answered(new pid), that the clients moved (it returns an error when
// they did not within ctx). It fails the test otherwise, and returns every
// generation's pid, the first included.
func (s *Server) Upgrades(ctx context.Context, n int, answered func(ctx context.Context, pid int) error) []int {
	s.t.Helper()
	pid := s.FirstPID
	if err := answered(ctx, pid); err != nil {
		s.t.Fatal(err)
	}
	generations := []int{pid}
	for i := range n {
		next, status := s.Upgrade(ctx, pid)
		if next == pid || !strings.Contains(status, "serving") {
			s.t.Fatalf("upgrade %d: MAINPID=%d STATUS=%q", i+1, next, status)
		}
		if err := WaitExit(ctx, pid); err != nil {
			s.t.Fatalf("upgrade %d: %v", i+1, err)
		}
		s.PIDs.Gone(pid)
		if err := answered(ctx, next); err != nil {
			s.t.Fatalf("upgrade %d: %v", i+1, err)
		}
		pid = next
		generations = append(generations, pid)
	}
	return generations
}

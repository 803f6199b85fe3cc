//go:build !windows

package testserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	Stderr   *SyncBuffer // what every generation wrote to stderr

	PIDs *PIDs // every generation seen, killed at cleanup

	t      *testing.T
	events <-chan sdnotify.Message
}

// Start runs exe -v -addr ADDR flags... on a free loopback address and
// waits (bounded by ctx) for its first READY=1.
func Start(t *testing.T, ctx context.Context, exe string, flags ...string) *Server {
	t.Helper()
	socket, events := ListenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
	s := &Server{t: t, Addr: FreeAddr(t), events: events, Stderr: &SyncBuffer{}, PIDs: NewPIDs(t)}
	cmd := exec.Command(exe, append([]string{"-v", "-addr", s.Addr}, flags...)...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+socket)
	cmd.Stderr = s.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.FirstPID = cmd.Process.Pid
	s.PIDs.Add(s.FirstPID)
	go cmd.Wait() // reap the first generation whenever it exits
	t.Cleanup(func() {
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

// WaitReady waits (bounded by ctx) for the next READY=1 whose MAINPID and
// STATUS satisfy ok, as a rollback or a failed upgrade reports it after
// the READY=1 that Upgrade returned.
func (s *Server) WaitReady(ctx context.Context, what string, ok func(pid int, status string) bool) (pid int, status string) {
	s.t.Helper()
	m := s.waitFor(ctx, what, func(m sdnotify.Message) bool {
		p, _ := strconv.Atoi(get(m, "MAINPID"))
		return get(m, "READY") == "1" && ok(p, get(m, "STATUS"))
	})
	pid, _ = strconv.Atoi(get(m, "MAINPID"))
	return pid, get(m, "STATUS")
}

// waitFor returns the first event matching ok, failing the test when ctx
// is done first.
func (s *Server) waitFor(ctx context.Context, what string, ok func(sdnotify.Message) bool) sdnotify.Message {
	s.t.Helper()
	m, err := NextNotify(ctx, s.events, s.PIDs, ok)
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

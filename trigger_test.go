//go:build linux

package handoff_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/internal/testserver"
)

// The newest trigger wins (issue 10 item 2): a trigger that arrives while
// an upgrade runs queues one follow-up, which looks the program up on disk
// again once the running one ends. One test per stage the running upgrade
// can be in when the program is replaced and the trigger comes.

// Stage "starting": the running upgrade has looked the program up (a
// broken build) and not started it yet. The fixed build is deployed and
// Upgrade called meanwhile; that call must run the fixed build, after the
// broken one failed, and say it waited.
func TestNewestTriggerWins_WhileStarting(t *testing.T) {
	bin := buildBinaries(t)
	broken := filepath.Join(bin, "faulty-exit1")
	fixed := filepath.Join(bin, "hello")
	addr := testserver.FreeAddr(t)
	logs := newLogWatch()

	var mu sync.Mutex
	deployed := broken
	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	h, ln := listenWith(t, handoff.Options{
		NoSignals: true,
		Probation: 50 * time.Millisecond,
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
		Command: func() (string, []string, error) {
			mu.Lock()
			path := deployed
			mu.Unlock()
			if calls.Add(1) == 1 {
				close(entered)
				<-release // the lookup is done; the start has not happened
			}
			return path, []string{path, "-probation", "50ms", "-addr", addr}, nil
		},
	}, addr)
	serveReady(t, h, ln)

	first := upgradeReport(h)
	<-entered
	mu.Lock()
	deployed = fixed
	mu.Unlock()
	second := upgradeReport(h)
	logs.wait(t, "queued to run after it", 10*time.Second)
	close(release)

	a := <-first
	if !errors.Is(a.err, handoff.ErrUpgradeFailed) || a.rep.Waited {
		t.Fatalf("first upgrade (the broken build): %+v, %v; want ErrUpgradeFailed, not waited", a.rep, a.err)
	}
	b := <-second
	if b.err != nil || !b.rep.Waited || b.rep.PID == 0 {
		t.Fatalf("second upgrade (the fixed build): %+v, %v; want success after waiting", b.rep, b.err)
	}
	defer syscall.Kill(b.rep.PID, syscall.SIGKILL)
	if got := servedBy(t, addr); got != b.rep.PID {
		t.Fatalf("served by %d, want the fixed build's generation %d", got, b.rep.PID)
	}
}

// Stage "waiting for ready": the running upgrade started a build that
// never becomes ready; the fixed build is deployed and SIGHUP sent
// meanwhile. Once the hanging one is killed (ReadyTimeout), the queued
// follow-up starts the fixed build from disk.
func TestNewestTriggerWins_WhileWaitingForReady(t *testing.T) {
	s := startHello(t, "-ready-timeout", "2s", "-probation", "100ms")
	first := s.cmd.Process.Pid
	deployFaulty("hang")(t, s)
	testserver.Hangup(t, first)
	s.waitLog("upgrade: started", 20*time.Second)
	ino := deployCopy(t, filepath.Join(buildBinaries(t), "hello"), s.exe)
	testserver.Hangup(t, first)
	s.waitLog("queued to run after it", 20*time.Second)
	pid := s.readyNamingAnother(first)
	waitExit(t, first, 30*time.Second)
	if got := servedBy(t, s.addr); got != pid {
		t.Fatalf("served by %d, want %d", got, pid)
	}
	checkRuns(t, pid, ino, s.exe)
}

// Stage "probation": the running upgrade's new generation is ready and in
// probation; the next build is deployed and SIGHUP sent to the old
// generation meanwhile (issue 10: "the newest build is never deployed and
// the operator is told it was"). The old generation cannot run it (it
// drains once probation is over), so it passes it on to the new one, which
// starts the newest build from disk.
func TestNewestTriggerWins_InProbation(t *testing.T) {
	s := startHello(t, "-probation", "2s")
	first := s.cmd.Process.Pid
	second, status := s.upgrade(first)
	if second == first {
		t.Fatalf("first upgrade failed: %s", status)
	}
	ino := deployCopy(t, filepath.Join(buildBinaries(t), "hello"), s.exe)
	testserver.Hangup(t, first)
	s.waitLog("queued to run after it", 20*time.Second)
	third := s.readyNamingAnother(first, second)
	waitExit(t, first, 30*time.Second)
	waitExit(t, second, 30*time.Second)
	if got := servedBy(t, s.addr); got != third {
		t.Fatalf("served by %d, want %d", got, third)
	}
	checkRuns(t, third, ino, s.exe)
}

// readyNamingAnother waits for a READY=1 whose MAINPID is none of pids.
func (s *server) readyNamingAnother(pids ...int) int {
	s.t.Helper()
	for {
		pid, status := s.nextReady()
		known := false
		for _, p := range pids {
			known = known || p == pid
		}
		if !known && pid != 0 {
			return pid
		}
		if strings.Contains(status, "failed") {
			s.t.Logf("meanwhile: %s", status)
		}
	}
}

// deployCopy puts a copy of from at to, as a new file (its own inode) renamed
// over the old one, and returns the new inode.
func deployCopy(t *testing.T, from, to string) uint64 {
	t.Helper()
	testserver.Copy(t, from, to)
	var st syscall.Stat_t
	if err := syscall.Stat(to, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// checkRuns fails unless pid runs the file whose inode is ino.
func checkRuns(t *testing.T, pid int, ino uint64, path string) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/"+itoa(pid)+"/exe", &st); err != nil {
		t.Fatal(err)
	}
	link, _ := os.Readlink("/proc/" + itoa(pid) + "/exe")
	if st.Ino != ino {
		t.Fatalf("pid %d runs %s (inode %d), want the newest build at %s (inode %d)", pid, link, st.Ino, path, ino)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// logWatch is a log destination a test can wait on.
type logWatch struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newLogWatch() *logWatch { return &logWatch{changed: make(chan struct{})} }

func (l *logWatch) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logWatch) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// wait returns once the log has a line containing want.
func (l *logWatch) wait(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		l.mu.Lock()
		found, changed := strings.Contains(l.b.String(), want), l.changed
		l.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %q in the log within %v:\n%s", want, d, l.String())
		}
	}
}

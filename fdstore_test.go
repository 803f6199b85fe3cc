//go:build linux

package handoff_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/systemdtest"
	"github.com/handoff-go/handoff/internal/testserver"
)

const unitAddr = "127.0.0.1:8080" // the booted system has a network namespace of its own

// bootWithHello boots a real systemd and installs hello as hello.service,
// Type=notify with NotifyAccess=all (a self-upgrade moves MainPID to a
// process that is not systemd's child, which systemd accepts only from
// it), SIGHUP as ExecReload. extra lines go in [Service].
func bootWithHello(t *testing.T, extra ...string) (*systemdtest.System, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := systemdtest.Boot(t, ctx)
	exe := filepath.Join(s.Dir, "hello")
	testserver.Replace(t, filepath.Join(buildBinaries(t), "hello"), exe)
	s.Install("hello.service", fmt.Sprintf(`[Unit]
DefaultDependencies=no
[Service]
Type=notify
NotifyAccess=all
ExecStart=%s -v -probation 1s -drain-idle 100ms -addr %s
ExecReload=/bin/kill -HUP $MAINPID
StandardOutput=append:%s/hello.log
StandardError=append:%s/hello.log
%s
`, exe, unitAddr, s.Dir, s.Dir, strings.Join(extra, "\n")))
	s.Systemctl("start", "hello.service")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.Dir, "hello.log"))
			t.Logf("hello.log:\n%s", b)
			out, _ := s.TrySystemctl("status", "hello.service")
			t.Logf("systemctl status hello.service:\n%s", out)
		}
	})
	return s, exe
}

// waitMainPID waits until hello.service is active with main pid want (or,
// for want 0, any pid other than old).
func waitMainPID(t *testing.T, s *systemdtest.System, old, want int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	// Polls systemd's state: from outside there is no event to wait on.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		p := s.MainPID("hello.service")
		if p != 0 && (want == 0 && p != old || want != 0 && p == want) && s.Show("hello.service", "ActiveState") == "active" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("hello.service: main pid %d (state %s), want %d (0: any but %d) within %v", p, s.Show("hello.service", "ActiveState"), want, old, within)
		}
		<-tick.C
	}
}

func checkLoad(t *testing.T, l *systemdtest.Load, what string) {
	t.Helper()
	l.Stop()
	t.Logf("%s: %s", what, l)
	if l.Refused.Load() != 0 || l.Failed.Load() != 0 {
		t.Errorf("%s: %d refused, %d failed; want 0 and 0", what, l.Refused.Load(), l.Failed.Load())
	}
}

// The library stores its own socket in systemd's fd store when $FDSTORE
// offers one (systemd 252 does not set it: the unit does), and the next
// start inherits it by name: `systemctl restart` refuses nothing, and
// systemd holds the one socket, not one more per start.
func TestSystemd_LibraryFDStore_RestartRefusesNothing(t *testing.T) {
	s, _ := bootWithHello(t, "FileDescriptorStoreMax=8", "Environment=FDSTORE=8")
	if n := s.Show("hello.service", "NFileDescriptorStore"); n != "1" {
		t.Fatalf("systemd holds %q fds for hello.service after the first start, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := s.StartLoad(unitAddr, "/", 4, 5*time.Millisecond, 20*time.Second)
	defer l.Stop()
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		before := s.MainPID("hello.service")
		start := time.Now()
		s.Systemctl("restart", "hello.service")
		after := waitMainPID(t, s, before, 0, 30*time.Second)
		t.Logf("systemctl restart %d: main pid %d -> %d in %v", i+1, before, after, time.Since(start).Round(time.Millisecond))
		if err := l.WaitOK(ctx, 50); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Show("hello.service", "NFileDescriptorStore"); n != "1" {
		t.Errorf("systemd holds %q fds for hello.service after two restarts, want 1", n)
	}
	checkLoad(t, l, "library fd store, systemctl restart x2")
}

// The library's self-upgrade under Type=notify: `systemctl reload` (SIGHUP)
// starts the next generation and MainPID moves to it, no request failed; a
// generation that dies in probation is rolled back and MainPID comes back
// to the one that serves, the unit active throughout and no connection
// refused.
func TestSystemd_LibrarySelfUpgradeAndRollback_TypeNotify(t *testing.T) {
	s, exe := bootWithHello(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := s.StartLoad(unitAddr, "/", 4, 5*time.Millisecond, 20*time.Second)
	defer l.Stop()
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
	first := s.MainPID("hello.service")
	s.Systemctl("reload", "hello.service")
	second := waitMainPID(t, s, first, 0, 30*time.Second)
	t.Logf("systemctl reload: main pid %d -> %d", first, second)
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
	checkLoad(t, l, "self-upgrade under Type=notify")

	// The faulty generation crashes with connections it accepted: those
	// are lost with it (no library can answer for a dead process), so
	// this phase promises 0 refused, and counts the failed.
	l = s.StartLoad(unitAddr, "/", 4, 5*time.Millisecond, 20*time.Second)
	defer l.Stop()
	if err := l.WaitOK(ctx, 20); err != nil {
		t.Fatal(err)
	}
	testserver.Replace(t, filepath.Join(buildBinaries(t), "faulty-probation"), exe)
	s.Systemctl("reload", "hello.service")
	// The faulty generation is ready, then exits in probation: the
	// rollback makes the second generation the main pid again.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	moved := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !strings.Contains(readLog(s), "faulty: starting"); {
		<-tick.C
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if p := s.MainPID("hello.service"); p != second && p != 0 {
			moved = p
		}
		if strings.Contains(readLog(s), "rolled back") || strings.Contains(readLog(s), "rollback") {
			break
		}
		<-tick.C
	}
	back := waitMainPID(t, s, 0, second, 30*time.Second)
	t.Logf("faulty generation: main pid moved to %d (0: never seen), back to %d; unit %s", moved, back, s.Show("hello.service", "ActiveState"))
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
	l.Stop()
	t.Logf("rollback under Type=notify: %s", l)
	if l.Refused.Load() != 0 {
		t.Errorf("rollback under Type=notify: %d refused, want 0", l.Refused.Load())
	}
	if n := l.Failed.Load(); n > 0 && !strings.Contains(l.String(), "reset by peer") && !strings.Contains(l.String(), "EOF") {
		t.Errorf("rollback under Type=notify: %d failed other than by the crash of the faulty generation", n)
	}
}

func readLog(s *systemdtest.System) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "hello.log"))
	return string(b)
}

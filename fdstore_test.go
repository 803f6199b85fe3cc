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
	s.LogOnFailure(t, "hello.service", "hello.log")
	return s, exe
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
	l := s.Restarts(t, "hello.service", unitAddr, 2)
	if n := s.Show("hello.service", "NFileDescriptorStore"); n != "1" {
		t.Errorf("systemd holds %q fds for hello.service after two restarts, want 1", n)
	}
	l.Check(t, "library fd store, systemctl restart x2")
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
	l := s.StartSteadyLoad(t, ctx, unitAddr, 50)
	first := s.MainPID("hello.service")
	s.Systemctl("reload", "hello.service")
	second := s.WaitMainPID(t, "hello.service", first, 0, 30*time.Second)
	t.Logf("systemctl reload: main pid %d -> %d", first, second)
	if err := l.WaitOK(ctx, 50); err != nil {
		t.Fatal(err)
	}
	l.Check(t, "self-upgrade under Type=notify")

	// The faulty generation crashes with connections it accepted: those
	// are lost with it (no library can answer for a dead process), so
	// this phase promises 0 refused, and counts the failed.
	l = s.StartSteadyLoad(t, ctx, unitAddr, 20)
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
	back := s.WaitMainPID(t, "hello.service", 0, second, 30*time.Second)
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

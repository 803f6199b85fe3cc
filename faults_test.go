//go:build linux

package handoff_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The new binary fails in each way a deploy can go wrong; the serving
// generation must go on serving, under load, and the failure must be
// reported with its reason.
func TestFailedUpgrade_OldKeepsServing(t *testing.T) {
	cases := []struct {
		name     string
		deploy   func(t *testing.T, s *server)
		want     []string // in the STATUS systemd receives, or in the log
		rollback bool
	}{
		{"missing binary", func(t *testing.T, s *server) { os.Remove(s.exe) }, []string{"upgrade failed", "no such file"}, false},
		{"exits 1", deployFaulty("exit1"), []string{"upgrade failed", "exit status 1", "configuration is broken"}, false},
		{"panics before ready", deployFaulty("panic"), []string{"upgrade failed", "exit status 2", "boom before ready"}, false},
		{"never ready", deployFaulty("hang"), []string{"upgrade failed", "not ready within 1.5s"}, false},
		{"dies in probation", deployFaulty("probation"), []string{"rolled back", "died in probation", "crashing after ready"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := startHello(t, "-ready-timeout", "1.5s", "-probation", "1s")
			first := s.cmd.Process.Pid
			load := startLoad(t, s.addr)
			load.Settle(t, 200)
			c.deploy(t, s)
			pid, status := s.upgrade(first)
			if c.rollback {
				// The cutover was announced; the rollback follows it.
				pid, status = s.nextReady()
			}
			if pid != first {
				t.Fatalf("after a failed upgrade systemd was told MAINPID=%d, want the old generation %d", pid, first)
			}
			load.Settle(t, 200)
			report := load.stop()
			t.Logf("%s", report)
			if got := servedBy(t, s.addr); got != first {
				t.Fatalf("after the failed upgrade pid %d served, want %d", got, first)
			}
			if !hasAll(status+s.stderr.String(), c.want...) {
				t.Errorf("failure not reported: want %q in STATUS %q or stderr:\n%s", c.want, status, s.stderr.String())
			}
			report.checkFailedUpgrade(t, c.rollback)
		})
	}
}

func deployFaulty(mode string) func(t *testing.T, s *server) {
	return func(t *testing.T, s *server) {
		testserver.Replace(t, filepath.Join(buildBinaries(t), "faulty-"+mode), s.exe)
	}
}

// A generation that is replaced twice by a broken binary and then by a good
// one ends up served by the good one, and the broken attempts left nothing
// behind: the good upgrade starts from the same healthy generation.
func TestFailedUpgradeThenGoodUpgrade(t *testing.T) {
	s := startHello(t, "-ready-timeout", "2s", "-probation", "200ms")
	first := s.cmd.Process.Pid
	deployFaulty("exit1")(t, s)
	if pid, status := s.upgrade(first); pid != first || !strings.Contains(status, "upgrade failed") {
		t.Fatalf("bad upgrade: MAINPID=%d STATUS=%q", pid, status)
	}
	testserver.Replace(t, filepath.Join(buildBinaries(t), "hello"), s.exe)
	pid, status := s.upgrade(first)
	if pid == first {
		t.Fatalf("good upgrade did not move MAINPID: %q", status)
	}
	if got := servedBy(t, s.addr); got != pid {
		t.Fatalf("served by %d after upgrade, want %d", got, pid)
	}
}

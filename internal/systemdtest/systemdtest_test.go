//go:build linux

package systemdtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The trap: a systemd booted on the machine's own /tmp empties it. The
// booted one must see a /tmp of its own, leave the real one alone, run a
// unit, and see the test's directory at its own path.
func TestBoot_RunsAUnitAndLeavesTheRealTmpAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	s := Boot(t, ctx)
	t.Logf("booted systemd pid %d in %v", s.PID, time.Since(start).Round(time.Millisecond))

	out, err := s.Exec(ctx, "ls", "-A", "/tmp")
	if err != nil {
		t.Fatalf("ls /tmp inside: %v\n%s", err, out)
	}
	if strings.Contains(string(out), filepath.Base(s.canary)) {
		t.Fatalf("the booted systemd sees the real /tmp (canary %s in its /tmp):\n%s", s.canary, out)
	}
	mark := filepath.Join(s.Dir, "ran")
	s.Install("mark.service", "[Unit]\nDefaultDependencies=no\n[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo $$PPID > "+mark+"'\n")
	s.Systemctl("start", "mark.service")
	if b, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("the unit did not run under the booted systemd (PID 1 inside): %q, %v", b, err)
	}
	if st := s.Show("mark.service", "Result"); st != "success" {
		t.Fatalf("mark.service result %q", st)
	}
}

// The canary must make a test fail loudly when it is gone: here a child
// test removes it by hand, as systemd-tmpfiles would have.
func TestBoot_FailsLoudlyWhenTheCanaryIsGone(t *testing.T) {
	if os.Getenv("SYSTEMDTEST_EAT_CANARY") == "1" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := Boot(t, ctx)
		os.Remove(s.canary)
		return
	}
	if err := Available(); err != nil {
		t.Skipf("cannot boot a real systemd: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBoot_FailsLoudlyWhenTheCanaryIsGone$", "-test.v")
	cmd.Env = append(os.Environ(), "SYSTEMDTEST_EAT_CANARY=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "THE REAL /tmp WAS EMPTIED") {
		t.Fatalf("a test whose canary vanished did not fail loudly (err %v):\n%s", err, out)
	}
}

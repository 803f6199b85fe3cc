//go:build unix

package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func TestServingWorkerCrashes_IsRestarted(t *testing.T) {
	s := startHello(t)
	first := onlyServingPID(t, s)
	syscall.Kill(first, syscall.SIGKILL)
	st := s.waitState(func(st control.Status) bool {
		p := servingPIDs(st)
		return len(p) == 1 && p[0] != first
	}, 10*time.Second, "a restarted worker")
	if w := st.Generations[0].Workers[0]; w.Restarts != 1 {
		t.Errorf("restarts = %d, want 1", w.Restarts)
	}
	l := startLoad(t, s.addr, 2)
	l.waitRequests(t, 20)
	l.done(t)
	s.stopClean(t)
}

func TestCrashLoop_SupervisorGivesUpWithStatusOne(t *testing.T) {
	app := shellApp(t, "#!/bin/sh\nsystemd-notify --ready\nsleep 0.2\necho crash-looping >&2\nexit 1\n")
	s := launchSup(t, []string{"-q", "--crash-limit", "3"}, app)
	if code := s.exitCode(t, 20*time.Second, "supervisor still running after a crash loop"); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if out := s.stderr.String(); !strings.Contains(out, "crash loop") || !strings.Contains(out, "crash-looping") {
		t.Fatalf("output does not explain the crash loop:\n%s", out)
	}
}

func TestFirstGenerationMissing_ExitsOneWithReason(t *testing.T) {
	s := launchSup(t, []string{"-q"}, "/nonexistent/app")
	if code := s.exitCode(t, 10*time.Second, "supervisor still running without a program"); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if out := s.stderr.String(); !strings.Contains(out, "first generation failed") || !strings.Contains(out, "no such file") {
		t.Fatalf("output:\n%s", out)
	}
}

func TestWatchdog_SilentWorkerIsReplaced(t *testing.T) {
	app := shellApp(t, "#!/bin/sh\nsystemd-notify --ready\nexec sleep 600\n")
	s := startSup(t, []string{"-q", "--watchdog", "300ms", "--crash-limit", "100"}, app)
	first := onlyServingPID(t, s)
	s.waitState(func(st control.Status) bool {
		p := servingPIDs(st)
		return len(p) == 1 && p[0] != first
	}, 10*time.Second, "a replacement for the silent worker")
	if !strings.Contains(s.stderr.String(), "watchdog") {
		t.Errorf("no watchdog log line:\n%s", s.stderr.String())
	}
	s.stop(t)
}

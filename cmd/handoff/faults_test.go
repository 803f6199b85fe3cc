package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

// appCopy copies hello to a path of the test's own, so the test can
// replace "the binary on disk" as a deploy would.
func appCopy(t *testing.T) string {
	t.Helper()
	app := filepath.Join(t.TempDir(), "app")
	copyFile(t, bin.hello, app)
	return app
}

func onlyServingPID(t *testing.T, s *sup) int {
	t.Helper()
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	pids := servingPIDs(st)
	if len(pids) != 1 {
		t.Fatalf("want one serving worker, status: %+v", st)
	}
	return pids[0]
}

func TestFailedUpgrades_OldGenerationKeepsServing(t *testing.T) {
	app := appCopy(t)
	s := startSup(t, append([]string{"--ready-timeout", "1s"}, fastFlags...), app, "-addr", "ADDR")
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)
	serving := onlyServingPID(t, s)

	cases := []struct {
		name    string
		prepare func()
		want    []string
	}{
		{"missing program", func() { os.Remove(app) }, []string{"failed", "no such file"}},
		{"exits 1", func() { writeExecutable(t, app, []byte("#!/bin/sh\necho boom-before-ready >&2\nexit 1\n")) },
			[]string{"failed", "exited before it was ready", "exit status 1", "boom-before-ready"}},
		{"crashes", func() { writeExecutable(t, app, []byte("#!/bin/sh\nkill -SEGV $$\n")) },
			[]string{"failed", "segmentation fault"}},
		{"never ready", func() { writeExecutable(t, app, []byte("#!/bin/sh\necho starting forever >&2\nexec sleep 600\n")) },
			[]string{"failed", "not ready within 1s", "starting forever"}},
	}
	for _, c := range cases {
		c.prepare()
		out, code := s.upgrade(t)
		if code != control.ExitFailed {
			t.Errorf("%s: upgrade exit %d, want %d:\n%s", c.name, code, control.ExitFailed, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: upgrade output lacks %q:\n%s", c.name, w, out)
			}
		}
		if !strings.Contains(out, "still serving") {
			t.Errorf("%s: upgrade output does not say the old generation still serves:\n%s", c.name, out)
		}
		if got := onlyServingPID(t, s); got != serving {
			t.Errorf("%s: serving pid changed from %d to %d", c.name, serving, got)
		}
		l.waitRequests(t, 20)
	}
	_, _, pids := l.result()
	for pid := range pids {
		if pid != serving {
			t.Errorf("pid %d of a failed generation answered requests", pid)
		}
	}
	copyFile(t, bin.hello, app)
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade after the faults: exit %d:\n%s", code, out)
	}
	l.waitRequests(t, 20)
	l.finish()
	l.assertNoFailures(t)
	s.stop(t)
	s.assertNoneLeft(t)
}

func TestNewGenerationDiesInProbation_RollsBackToPreviousBytes(t *testing.T) {
	app := appCopy(t)
	s := startSup(t, []string{"-q", "--probation", "2s"}, app, "-addr", "ADDR", "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)
	first := onlyServingPID(t, s)

	// Ready at once, dead soon after: inside the probation window.
	crashing := []byte("#!/bin/sh\nsystemd-notify --ready\nsleep 0.3\necho dying in probation >&2\nexit 7\n")
	writeExecutable(t, app, crashing)
	out, code := s.upgrade(t)
	if code != control.ExitRolledBack {
		t.Fatalf("upgrade exit %d, want %d (rolled back):\n%s", code, control.ExitRolledBack, out)
	}
	for _, w := range []string{"rolled back", "exit status 7", "dying in probation"} {
		if !strings.Contains(out, w) {
			t.Errorf("upgrade output lacks %q:\n%s", w, out)
		}
	}
	now := onlyServingPID(t, s)
	if now == first {
		t.Fatalf("rollback did not start a new process")
	}
	l.waitRequests(t, 50)
	_, _, pids := l.result()
	if pids[now] == 0 {
		t.Fatalf("rolled-back worker %d never answered", now)
	}
	// The file on disk is still the crashing script: what runs is the
	// previous generation's bytes, held open by the supervisor.
	if b, _ := os.ReadFile(app); string(b) != string(crashing) {
		t.Fatalf("the test's binary changed on disk")
	}
	if exe, _ := os.Readlink("/proc/" + itoa(now) + "/exe"); !strings.Contains(exe, "deleted") {
		t.Errorf("rolled-back worker runs %q, want the replaced (deleted) file", exe)
	}
	st, _ := s.status()
	if st.LastUpgrade == nil || st.LastUpgrade.Result != control.StageRolledBack {
		t.Errorf("status last upgrade = %+v", st.LastUpgrade)
	}
	l.finish()
	l.assertNoFailures(t)
	s.stop(t)
	s.assertNoneLeft(t)
}

func TestServingWorkerCrashes_IsRestarted(t *testing.T) {
	s := startSup(t, fastFlags, bin.hello, "-addr", "ADDR")
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
	l.finish()
	l.assertNoFailures(t)
	s.stop(t)
	s.assertNoneLeft(t)
}

func TestCrashLoop_SupervisorGivesUpWithStatusOne(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	writeExecutable(t, app, []byte("#!/bin/sh\nsystemd-notify --ready\nsleep 0.2\necho crash-looping >&2\nexit 1\n"))
	s := launchSup(t, []string{"-q", "--crash-limit", "3"}, app)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("supervisor still running after a crash loop")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if out := s.stderr.String(); !strings.Contains(out, "crash loop") || !strings.Contains(out, "crash-looping") {
		t.Fatalf("output does not explain the crash loop:\n%s", out)
	}
}

func TestDrainingWorkerIgnoringTERM_KilledAfterDrainTimeout(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeExecutable(t, app, []byte("#!/bin/sh\ntrap '' TERM\nsystemd-notify --ready\nexec sleep 600\n"))
	s := startSup(t, []string{"-q", "--probation", "100ms", "--drain-timeout", "1s"}, app, "-addr", "ADDR")
	stubborn := onlyServingPID(t, s)
	copyFile(t, bin.hello, app)
	start := time.Now()
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: exit %d:\n%s", code, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(stubborn, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d ignoring TERM still alive 10s after the upgrade (drain timeout 1s)", stubborn)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("killed after %v, before the 1s drain timeout", took)
	}
	if !strings.Contains(s.stderr.String(), "still draining after 1s") {
		t.Errorf("no log line about the drain timeout:\n%s", s.stderr.String())
	}
	s.stop(t)
}

func TestSecondTERM_StopsAtOnce(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeExecutable(t, app, []byte("#!/bin/sh\ntrap '' TERM\nsystemd-notify --ready\nexec sleep 600\n"))
	s := startSup(t, []string{"-q", "--drain-timeout", "60s"}, app)
	worker := onlyServingPID(t, s)
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.waitState(func(st control.Status) bool { return st.State == "stopping" }, 5*time.Second, "stopping")
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("a second TERM did not stop the supervisor at once")
	}
	if err := syscall.Kill(worker, 0); err == nil {
		t.Errorf("worker %d survived the second TERM", worker)
	}
}

func TestFiftyConcurrentUpgrades_OneAtATimeOthersCoalesced(t *testing.T) {
	s := startSup(t, fastFlags, bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 6)
	l.waitRequests(t, 50)
	type result struct {
		out  string
		code int
	}
	results := make([]result, 50)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, code := s.upgrade(t)
			results[i] = result{out, code}
		}()
	}
	wg.Wait()
	own, coalesced := 0, 0
	started := regexp.MustCompile(`starting generation (\d+)`)
	gens := map[string]bool{}
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("call %d: exit %d:\n%s", i, r.code, r.out)
		}
		if strings.Contains(r.out, "coalesced") {
			coalesced++
		} else {
			own++
		}
		for _, m := range started.FindAllStringSubmatch(r.out, -1) {
			gens[m[1]] = true
		}
	}
	if own+coalesced != 50 || own < 1 || coalesced < 1 {
		t.Errorf("%d calls ran their own upgrade, %d were coalesced", own, coalesced)
	}
	if len(gens) != own {
		t.Errorf("%d generations started for %d upgrades that were not coalesced", len(gens), own)
	}
	l.waitRequests(t, 20)
	l.finish()
	l.assertNoFailures(t)
	t.Logf("50 calls: %d upgrades, %d coalesced", own, coalesced)
	s.stop(t)
	s.assertNoneLeft(t)
}

func TestFirstGenerationMissing_ExitsOneWithReason(t *testing.T) {
	s := launchSup(t, []string{"-q"}, "/nonexistent/app")
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor still running without a program")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if out := s.stderr.String(); !strings.Contains(out, "first generation failed") || !strings.Contains(out, "no such file") {
		t.Fatalf("output:\n%s", out)
	}
}

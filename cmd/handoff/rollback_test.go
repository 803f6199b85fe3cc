//go:build unix

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

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
		// Refused by the pre-flight checks, with an exit status of its own.
		{"missing program", func() { os.Remove(app) }, []string{"refused", "program not found", "no such file"}},
		{"exits 1", func() { testserver.WriteExecutable(t, app, []byte("#!/bin/sh\necho boom-before-ready >&2\nexit 1\n")) },
			[]string{"failed", "exited before it was ready", "exit status 1", "boom-before-ready"}},
		{"crashes", func() { testserver.WriteExecutable(t, app, []byte("#!/bin/sh\nkill -SEGV $$\n")) },
			[]string{"failed", "segmentation fault"}},
		{"never ready", func() {
			testserver.WriteExecutable(t, app, []byte("#!/bin/sh\necho starting forever >&2\nexec sleep 600\n"))
		},
			[]string{"failed", "not ready within 1s", "starting forever"}},
	}
	for _, c := range cases {
		c.prepare()
		out, code := s.upgrade(t)
		want := control.ExitFailed
		if c.name == "missing program" {
			want = control.ExitMissing
		}
		if code != want {
			t.Errorf("%s: upgrade exit %d, want %d:\n%s", c.name, code, want, out)
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
	testserver.Replace(t, bin.hello, app)
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade after the faults: exit %d:\n%s", code, out)
	}
	l.waitRequests(t, 20)
	l.done(t)
	s.stopClean(t)
}

func TestNewGenerationDiesInProbation_RollsBackToPreviousBytes(t *testing.T) {
	app := appCopy(t)
	s := startSup(t, []string{"-q", "--probation", "2s"}, app, "-addr", "ADDR", "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)
	first := onlyServingPID(t, s)

	// Ready at once, dead soon after: inside the probation window.
	crashing := []byte("#!/bin/sh\nsystemd-notify --ready\nsleep 0.3\necho dying in probation >&2\nexit 7\n")
	testserver.WriteExecutable(t, app, crashing)
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
	if exe := testserver.Exe(now); !strings.Contains(exe, "deleted") {
		t.Errorf("rolled-back worker runs %q, want the replaced (deleted) file", exe)
	}
	st, _ := s.status()
	if st.LastUpgrade == nil || st.LastUpgrade.Result != control.StageRolledBack {
		t.Errorf("status last upgrade = %+v", st.LastUpgrade)
	}
	l.done(t)
	s.stopClean(t)
}

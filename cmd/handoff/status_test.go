//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

func TestStatusJSON_ShowsGenerationsAndLastUpgrade(t *testing.T) {
	s := startHello(t)
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: %d %s", code, out)
	}
	out, code := handoffCmd(t, "status", "--control", s.ctl)
	if code != 0 || !strings.Contains(out, "generation 2: serving") || !strings.Contains(out, "last upgrade: done") {
		t.Fatalf("status: exit %d:\n%s", code, out)
	}
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	if st.LastUpgrade == nil || st.LastUpgrade.Result != control.StageDone || st.Listeners[0].Name != "http" {
		t.Fatalf("status: %+v", st)
	}
	s.stop(t)
}

func TestPIDFileHoldsTheSupervisorAcrossUpgrades(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "run.pid")
	s := startSup(t, append([]string{"--pid-file", pidFile}, fastFlags...), bin.hello, "-addr", "ADDR")
	want := s.cmd.Process.Pid
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: %d %s", code, out)
	}
	if got := testserver.ReadPID(t, pidFile); got != want {
		t.Fatalf("pid file = %d; want %d", got, want)
	}
	s.stop(t)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file still there after stop: %v", err)
	}
}

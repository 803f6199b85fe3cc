package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPIDFileHoldsTheSupervisorAcrossUpgrades(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "run.pid")
	s := startSup(t, append([]string{"--pid-file", pidFile}, fastFlags...), bin.hello, "-addr", "ADDR")
	want := s.cmd.Process.Pid
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: %d %s", code, out)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(want) {
		t.Fatalf("pid file = %q, %v; want %d", b, err, want)
	}
	s.stop(t)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("pid file still there after stop: %v", err)
	}
}

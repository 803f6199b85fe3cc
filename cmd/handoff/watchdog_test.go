package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func TestWatchdog_SilentWorkerIsReplaced(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeExecutable(t, app, []byte("#!/bin/sh\nsystemd-notify --ready\nexec sleep 600\n"))
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

//go:build unix

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

func TestDrainingWorkerIgnoringTERM_KilledAfterDrainTimeout(t *testing.T) {
	app := shellApp(t, "#!/bin/sh\ntrap '' TERM\nsystemd-notify --ready\nexec sleep 600\n")
	s := startSup(t, []string{"-q", "--probation", "100ms", "--drain-timeout", "1s"}, app, "-addr", "ADDR")
	stubborn := onlyServingPID(t, s)
	testserver.Replace(t, bin.hello, app)
	start := time.Now()
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: exit %d:\n%s", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := testserver.WaitExit(ctx, stubborn); err != nil {
		t.Fatalf("worker %d ignoring TERM still alive 10s after the upgrade (drain timeout 1s): %v", stubborn, err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("killed after %v, before the 1s drain timeout", took)
	}
	if !strings.Contains(s.stderr.String(), "still draining after 1s") {
		t.Errorf("no log line about the drain timeout:\n%s", s.stderr.String())
	}
	s.stop(t)
}

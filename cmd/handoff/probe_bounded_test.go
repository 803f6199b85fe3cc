//go:build unix

package main

import (
	"fmt"
	"testing"
	"time"
)

// A --ready=exec probe that exits 0 but leaves a background child holding
// its output pipe counts as passed: the supervisor waits for the output a
// bounded time (WaitDelay), not for the child, and keeps a bounded amount
// of what the probe prints.
func TestReadyProbe_BackgroundChildHoldingItsOutput_StillReady(t *testing.T) {
	needProc(t)
	tag := fmt.Sprintf("probe-%d", time.Now().UnixNano())
	killTagged(t, tag)
	probe := fmt.Sprintf("exec:head -c 1000000 /dev/zero; APP_TAG=%s sleep 60 & exit 0", tag)
	// A worker that never sends READY=1: only the probe can say it is ready.
	app := shellApp(t, fmt.Sprintf("#!/bin/sh\nexport APP_TAG=%s\nexec sleep 600\n", tag))
	s := startSup(t, []string{"-q", "--ready", probe, "--ready-timeout", "8s"}, app)
	s.stopClean(t)
	assertNoneTagged(t, tag, "after the stop")
}

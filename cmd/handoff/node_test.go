//go:build unix

package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// examples/node follows the worker contract: 20 upgrades under mixed load
// (keep-alive and not, POSTs, slow requests), 0 failed.
func TestNodeUnderRun_20UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify not installed: server.js cannot send READY=1")
	}
	script, err := filepath.Abs("../../examples/node/server.js")
	if err != nil {
		t.Fatal(err)
	}
	s := startSup(t, fastFlags, node, script, "--drain-idle", "0.2")
	supPID := s.cmd.Process.Pid
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		out, code := s.upgrade(t)
		if code != 0 {
			t.Fatalf("upgrade %d: exit %d:\n%s", i+1, code, out)
		}
		st, _ := s.status()
		if st.PID != supPID {
			t.Fatalf("supervisor pid changed")
		}
		for _, pid := range servingPIDs(st) {
			seen[pid] = true
		}
		l.waitRequests(t, 20)
	}
	l.finish()
	ok := l.assertNoFailures(t)
	_, _, pids := l.result()
	for pid := range seen {
		if pids[pid] == 0 {
			t.Errorf("node worker %d never answered", pid)
		}
	}
	s.stop(t)
	s.assertNoneLeft(t)
	t.Logf("%d requests over 20 upgrades, 0 failed, %d node workers answered", ok, len(pids))
}

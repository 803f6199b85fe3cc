//go:build unix

package main

import (
	"os/exec"
	"testing"
)

// upgradesUnderLoad runs argv under the supervisor through n upgrades
// under mixed load from clients clients (keep-alive and not, POSTs, slow
// requests) and checks that no request failed, every worker answered and
// no worker is left after the stop.
func upgradesUnderLoad(t *testing.T, what string, n, clients int, argv ...string) {
	t.Helper()
	s := startSup(t, fastFlags, argv...)
	supPID := s.cmd.Process.Pid
	l := startLoad(t, s.addr, clients)
	l.waitRequests(t, 50)
	seen := map[int]bool{}
	for i := 0; i < n; i++ {
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
	l.done(t)
	ok, fails, pids := l.result()
	for pid := range seen {
		if pids[pid] == 0 {
			t.Errorf("%s worker %d never answered", what, pid)
		}
	}
	s.stopClean(t)
	t.Logf("%s: %d requests over %d upgrades, %d failed, %d workers answered", what, ok, n, len(fails), len(pids))
}

// examples/node follows the worker contract (docs/WORKERS.md).
func TestNodeUnderRun_20UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	if _, err := exec.LookPath("systemd-notify"); err != nil {
		t.Skip("systemd-notify not installed: server.js cannot send READY=1")
	}
	upgradesUnderLoad(t, "node", 20, 8, node, example(t, "node/server.js"), "--drain-idle", "0.2")
}

// examples/python follows the same contract.
func TestPythonUnderRun_20UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	upgradesUnderLoad(t, "python", 20, 8, python(t), example(t, "python/server.py"), "--drain-idle", "0.2")
}

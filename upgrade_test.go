//go:build linux

package handoff_test

import (
	"strings"
	"testing"
	"time"
)

// The promise itself: 20 upgrades in a row under load from clients that
// never retry (POSTs, half on keep-alive connections, half on a new
// connection per request, some slow requests in flight), and not one
// request fails; every generation serves.
func TestUpgradeUnderLoad_NoFailedRequests(t *testing.T) {
	s := startHello(t, "-probation", "300ms", "-drain-idle", "2s")
	load := startLoad(t, s.addr)
	pid := s.cmd.Process.Pid
	generations := []int{pid}
	for i := 0; i < 20; i++ {
		next, status := s.upgrade(pid)
		if next == pid || !strings.Contains(status, "serving") {
			t.Fatalf("upgrade %d: MAINPID=%d STATUS=%q", i+1, next, status)
		}
		// Pace the upgrades on the old generation's exit, which proves the
		// drain ends, and keeps within Options.MaxDraining.
		waitExit(t, pid, 30*time.Second)
		pid = next
		generations = append(generations, pid)
	}
	report := load.stop()
	if report.failed() {
		t.Fatalf("failed requests across 20 upgrades: %s", report)
	}
	for _, g := range generations {
		if report.servedBy(g) == 0 {
			t.Errorf("generation pid %d served no request", g)
		}
	}
	t.Logf("%s", report)
}

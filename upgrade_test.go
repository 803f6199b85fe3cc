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
// request fails; every generation serves. Keep-alive migration is on (the
// default): connections move between generations while requests are in
// flight on them.
func TestUpgradeUnderLoad_NoFailedRequests(t *testing.T) {
	testUpgradesUnderLoad(t, "-probation", "300ms", "-drain-idle", "2s")
}

// The same mixed load with migration off (Options.NoMigrate): the drain
// alone, with Connection: close, loses nothing either.
func TestUpgradeUnderLoadWithoutMigration_NoFailedRequests(t *testing.T) {
	testUpgradesUnderLoad(t, "-migrate=false", "-probation", "300ms", "-drain-idle", "2s")
}

func testUpgradesUnderLoad(t *testing.T, flags ...string) {
	s := startHello(t, flags...)
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

// Idle keep-alive connections are where tableflip, grace and endless fail
// requests: the old process closes an idle connection just as the client
// sends on it. 200 held connections, each sending one POST a second with a
// client that never retries, through 5 upgrades: no request fails, because
// the drain answers each connection's next request with Connection: close
// instead of closing it under the client's feet. (Migration off: this is
// the drain's own test.)
func TestUpgradeWithoutMigrationWithIdleKeepAliveConnections_NoFailedRequests(t *testing.T) {
	r := holdThroughUpgrades(t, startHello(t, "-migrate=false", "-probation", "200ms"))
	t.Logf("%s; connections cut while idle: %d", r, r.Cuts)
	if r.failed() {
		t.Fatalf("requests failed on held keep-alive connections: %s", r)
	}
}

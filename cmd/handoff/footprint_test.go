//go:build unix

package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// TestSupervisorFootprint measures the supervisor's resident memory and
// the CPU it uses over 2 s of idleness with one worker; the numbers go in
// docs/BENCHMARKS.md (go test -run Footprint -v ./cmd/handoff).
func TestSupervisorFootprint(t *testing.T) {
	s := startSup(t, []string{"-q"}, bin.hello, "-addr", "ADDR")
	pid := s.cmd.Process.Pid
	t0 := cpuTicks(t, pid)
	time.Sleep(2 * time.Second) // the measurement window itself
	t1 := cpuTicks(t, pid)
	rss := rssKiB(t, pid)
	cpu := float64(t1-t0) / 100 / 2 * 100 // clock ticks at 100 Hz over 2 s, in %
	t.Logf("supervisor idle: RSS %d kB, CPU %.1f%% over 2s (%d ticks)", rss, cpu, t1-t0)
	if rss > 64*1024 || cpu > 5 {
		t.Errorf("supervisor too heavy: RSS %d kB, idle CPU %.1f%%", rss, cpu)
	}
	s.stop(t)
}

// cpuTicks is the CPU time pid used, user and system, in clock ticks.
func cpuTicks(b testing.TB, pid int) int {
	_, _, _, f, ok := testserver.Stat(pid)
	if !ok || len(f) < 10 {
		b.Fatalf("no /proc/%d/stat", pid)
	}
	ut, _ := strconv.Atoi(f[8])
	st, _ := strconv.Atoi(f[9])
	return ut + st
}

// rssKiB reads VmRSS of pid.
func rssKiB(t testing.TB, pid int) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(testserver.Status(pid, "VmRSS"), " kB"))
	if err != nil {
		t.Fatalf("no VmRSS for pid %d", pid)
	}
	return n
}

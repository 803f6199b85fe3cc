//go:build unix

package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
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
	rss := rssKB(t, pid)
	cpu := float64(t1-t0) / 100 / 2 * 100 // clock ticks at 100 Hz over 2 s, in %
	t.Logf("supervisor idle: RSS %d kB, CPU %.1f%% over 2s (%d ticks)", rss, cpu, t1-t0)
	if rss > 64*1024 || cpu > 5 {
		t.Errorf("supervisor too heavy: RSS %d kB, idle CPU %.1f%%", rss, cpu)
	}
	s.stop(t)
}

func cpuTicks(b testing.TB, pid int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return ut + st
}

func rssKB(b testing.TB, pid int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

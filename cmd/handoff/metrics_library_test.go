//go:build unix

package main

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

var migratedLine = regexp.MustCompile(`msg="handoff: migrate: keep-alive connections" pid=\d+ migrated=(\d+) fell_back=(\d+)`)

// Under the supervisor too, a worker built on the library hands its
// counters to the worker that replaces it: hello -metrics, on a metrics
// socket the supervisor holds (--listen), through 3 upgrades under load;
// the last worker's scrape counts every drain and every connection the
// old workers moved, as they logged them.
func TestMetrics_LibraryCountersCarriedAcrossSupervisedWorkers(t *testing.T) {
	metricsAddr := "127.0.0.1:" + itoa(testserver.FreePort(t))
	s := startSup(t, append([]string{"--listen", "metrics=tcp://" + metricsAddr}, fastFlags...),
		bin.hello, "-v", "-addr", "ADDR", "-metrics", metricsAddr, "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)
	const upgrades = 3
	for i := range upgrades {
		if out, code := s.upgrade(t); code != control.ExitDone {
			t.Fatalf("upgrade %d: exit %d:\n%s", i+1, code, out)
		}
		s.waitState(func(st control.Status) bool { return len(st.Generations) == 1 }, 30*time.Second, "the old worker gone")
		l.waitRequests(t, 20)
	}
	var migrated, fellBack float64
	for _, m := range migratedLine.FindAllStringSubmatch(s.stderr.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		f, _ := strconv.Atoi(m[2])
		migrated, fellBack = migrated+float64(n), fellBack+float64(f)
	}
	if migrated == 0 {
		t.Error("no keep-alive connection moved in 3 upgrades under load: the test proves less than it says")
	}
	text := testserver.Scrape(t, "http://"+metricsAddr+"/metrics")
	for series, want := range map[string]float64{
		"handoff_connections_migrated_total":                 migrated,
		"handoff_connections_fell_back_total":                fellBack,
		`handoff_upgrade_phase_seconds_count{phase="drain"}`: upgrades,
		// The supervisor upgrades: the workers count none of their own.
		`handoff_upgrades_total{kind="upgrade",result="done"}`: 0,
	} {
		if got, ok := testserver.MetricValue(text, series); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
	l.finish()
	l.assertNoFailures(t)
	t.Logf("3 supervised upgrades: %v connections migrated, %v fell back, all counted by the last worker", migrated, fellBack)
	s.stopClean(t)
}

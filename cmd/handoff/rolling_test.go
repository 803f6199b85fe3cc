package main

import (
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func TestRollingUpgradeWithThreeWorkers_NoFailedRequests(t *testing.T) {
	s := startSup(t, append([]string{"--workers", "3", "--strategy", "rolling"}, fastFlags...), bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
	s.waitState(func(st control.Status) bool { return len(servingPIDs(st)) == 3 }, 10*time.Second, "three workers")
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)
	for i := 0; i < 3; i++ {
		out, code := s.upgrade(t)
		if code != 0 || strings.Count(out, "started pid") != 3 {
			t.Fatalf("upgrade %d: exit %d:\n%s", i, code, out)
		}
		l.waitRequests(t, 20)
	}
	st, _ := s.status()
	if len(st.Generations) == 0 || st.Generations[0].Number != 4 || len(servingPIDs(st)) != 3 {
		t.Fatalf("after 3 rolling upgrades: %+v", st)
	}
	l.finish()
	l.assertNoFailures(t)
	s.stop(t)
	s.assertNoneLeft(t)
}

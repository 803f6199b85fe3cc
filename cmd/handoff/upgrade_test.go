//go:build unix

package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func TestHelloUnderRun_20UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	s := startSup(t, fastFlags, bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
	supPID := s.cmd.Process.Pid
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)

	generations := map[int]bool{}
	for i := 0; i < 20; i++ {
		out, code := s.upgrade(t)
		if code != 0 {
			t.Fatalf("upgrade %d: exit %d:\n%s", i+1, code, out)
		}
		if !strings.Contains(out, "done") {
			t.Fatalf("upgrade %d: no done stage in:\n%s", i+1, out)
		}
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		if st.PID != supPID {
			t.Fatalf("supervisor pid changed from %d to %d", supPID, st.PID)
		}
		for _, pid := range servingPIDs(st) {
			generations[pid] = true
		}
		l.waitRequests(t, 20) // the new generation answers before the next upgrade
	}
	ok := l.done(t)
	_, _, pids := l.result()
	for pid := range generations {
		if pids[pid] == 0 {
			t.Errorf("generation with pid %d never answered a request", pid)
		}
	}
	if len(generations) < 20 {
		t.Errorf("saw %d serving pids over 20 upgrades, want at least 20", len(generations))
	}
	s.stopClean(t)
	t.Logf("%d requests, 0 failed, %d pids answered, supervisor pid %d unchanged", ok, len(pids), supPID)
}

func TestPythonUnderRun_UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	upgradesUnderLoad(t, "python", 5, 6, python(t), example(t, "python/server.py"), "--drain-idle", "0.2")
}

func TestFiftyConcurrentUpgrades_OneAtATimeOthersCoalesced(t *testing.T) {
	s := startSup(t, fastFlags, bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 6)
	l.waitRequests(t, 50)
	type result struct {
		out  string
		code int
	}
	results := make([]result, 50)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, code := s.upgrade(t)
			results[i] = result{out, code}
		}()
	}
	wg.Wait()
	own, coalesced := 0, 0
	started := regexp.MustCompile(`starting generation (\d+)`)
	gens := map[string]bool{}
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("call %d: exit %d:\n%s", i, r.code, r.out)
		}
		if strings.Contains(r.out, "coalesced") {
			coalesced++
		} else {
			own++
		}
		for _, m := range started.FindAllStringSubmatch(r.out, -1) {
			gens[m[1]] = true
		}
	}
	// The newest trigger wins: a call that arrives once the running
	// upgrade has looked the program up waits for one follow-up, shared by
	// every such call, so the calls produce a few generations, never fifty.
	if own+coalesced != 50 || own < 1 || coalesced < 1 {
		t.Errorf("%d calls ran their own upgrade, %d were coalesced", own, coalesced)
	}
	if len(gens) < own || len(gens) >= 50 {
		t.Errorf("%d generations started for %d calls that started their own upgrade", len(gens), own)
	}
	l.waitRequests(t, 20)
	l.done(t)
	t.Logf("50 calls: %d upgrades, %d coalesced", own, coalesced)
	s.stopClean(t)
}

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
	l.done(t)
	s.stopClean(t)
}

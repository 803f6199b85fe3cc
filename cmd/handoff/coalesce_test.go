package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
)

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
	if own+coalesced != 50 || own < 1 || coalesced < 1 {
		t.Errorf("%d calls ran their own upgrade, %d were coalesced", own, coalesced)
	}
	if len(gens) != own {
		t.Errorf("%d generations started for %d upgrades that were not coalesced", len(gens), own)
	}
	l.waitRequests(t, 20)
	l.finish()
	l.assertNoFailures(t)
	t.Logf("50 calls: %d upgrades, %d coalesced", own, coalesced)
	s.stop(t)
	s.assertNoneLeft(t)
}

//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
	"github.com/handoff-go/handoff/internal/testserver/testload"
)

// Upgrade churn under the supervisor (issue 10): `handoff run` with
// examples/hello, an upgrade every 100-150 ms under non-retrying mixed
// load (POSTs, half keep-alive and half a connection per request, slow
// requests in flight at every upgrade, idle keep-alive connections held
// throughout), keep-alive migration on and off. No request fails, every
// generation serves, no worker is left after the stop, and the
// supervisor's own descriptors and memory stay flat after a warm-up.
//
// Two ways to drive it: upgrades that wait for each other (`handoff
// upgrade` returns, then the next), and triggers that do not (SIGHUP to the
// supervisor every 100-150 ms, whatever runs: the supervisor decides what a
// trigger during an upgrade means, this test only counts failed requests).
//
// CHURN_UPGRADES sets the number of upgrades (default 60, 20 under -race:
// the CI form; scripts/churn runs the long form).

func TestRunChurn_Migrate_UpgradesInSequence(t *testing.T)   { testRunChurn(t, true, true) }
func TestRunChurn_NoMigrate_UpgradesInSequence(t *testing.T) { testRunChurn(t, false, true) }
func TestRunChurn_Migrate_TriggersThatDoNotWait(t *testing.T) {
	testRunChurn(t, true, false)
}

func testRunChurn(t *testing.T, migrate, wait bool) {
	// Under -race the supervisor is built with it too, and each `handoff
	// upgrade` takes about a second on a 2-core machine.
	upgrades := testserver.ChurnUpgrades(t, testserver.RaceEnabled())
	s := startSup(t, []string{"-q", "--probation", "50ms", "--drain-timeout", "20s", "--max-draining", "32"},
		bin.hello, "-addr", "ADDR", "-drain-idle", "300ms", "-migrate="+strconv.FormatBool(migrate))
	l := supLoad(t, s.addr, testload.Churn(""))
	l.Settle(t, 200)
	sup := s.cmd.Process.Pid
	warm := upgrades / 6
	var warmFDs, warmRSS int
	var samples []string // "upgrades:fds/RSS KiB" along the run
	start := time.Now()
	wrong, failedUpgrades := 0, 0
	for i := 0; i < upgrades; i++ {
		if i == warm {
			warmFDs, warmRSS = testserver.CountFDs(sup), rssKiB(t, sup)
		}
		if warm > 0 && i%warm == 0 {
			samples = append(samples, fmt.Sprintf("%d:%d/%d", i, testserver.CountFDs(sup), rssKiB(t, sup)))
		}
		next := time.Now().Add(100*time.Millisecond + time.Duration(i%6)*10*time.Millisecond)
		if wait {
			out, code := s.upgrade(t)
			if code != 0 {
				failedUpgrades++
				t.Logf("upgrade %d: exit %d: %s", i+1, code, strings.TrimSpace(out))
			} else if pid := onlyServingPID(t, s); answeredByPID(t, s.addr, pid, 2*time.Second) != pid {
				wrong++
				t.Logf("upgrade %d: new connections were not answered by the new worker %d", i+1, pid)
			}
		} else if err := syscall.Kill(sup, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if d := time.Until(next); d > 0 {
			// Pacing the triggers (10/s at most), not synchronising.
			<-time.After(d)
		}
	}
	took := time.Since(start)
	// The last trigger's upgrade ends; its worker serves.
	st := s.waitState(func(st control.Status) bool { return st.State == "serving" && len(servingPIDs(st)) == 1 }, 60*time.Second, "serving after the churn")
	last := servingPIDs(st)[0]
	if got := answeredByPID(t, s.addr, last, 5*time.Second); got != last {
		t.Errorf("after the churn, new connections are answered by %d, not the serving worker %d", got, last)
	}
	l.Settle(t, 200)
	endFDs, endRSS := testserver.CountFDs(sup), rssKiB(t, sup)
	r := l.Stop()
	s.mu.Lock()
	for _, p := range r.PIDs {
		s.pids[p.PID] = true
	}
	s.mu.Unlock()
	gens := 0
	if st.LastUpgrade != nil {
		gens = st.LastUpgrade.Generation
	}
	t.Logf("churn (migrate=%v, wait=%v): %d triggers in %v (%.1f/s), %d generations, %d workers answered; %s; %.2f failures per million; supervisor fds %d -> %d, RSS %d -> %d KiB after %d upgrades of warm-up",
		migrate, wait, upgrades, took.Round(time.Millisecond), float64(upgrades)/took.Seconds(), gens, len(r.PIDs),
		testload.Summary(r), testload.PerMillion(r), warmFDs, endFDs, warmRSS, endRSS, warm)
	t.Logf("supervisor upgrades:fds/RSS KiB along the run: %s %d:%d/%d", strings.Join(samples, " "), upgrades, endFDs, endRSS)
	s.stopClean(t)

	if r.Failures != 0 || r.Outcomes.Mismatched != 0 || r.Outcomes.Duplicate != 0 || r.Requests == 0 {
		t.Errorf("requests failed under churn: %s", testload.Summary(r))
	}
	if failedUpgrades > 0 {
		t.Errorf("%d of %d upgrades failed", failedUpgrades, upgrades)
	}
	if wrong > 0 {
		t.Errorf("%d new workers did not answer new connections", wrong)
	}
	// Flat: a leak of one descriptor per upgrade would show as dozens.
	if endFDs > warmFDs+8 {
		t.Errorf("the supervisor's descriptors grew from %d to %d over %d upgrades", warmFDs, endFDs, upgrades-warm)
	}
	if endRSS > 2*warmRSS+16<<10 {
		t.Errorf("the supervisor's RSS grew from %d to %d KiB over %d upgrades", warmRSS, endRSS, upgrades-warm)
	}
}

// answeredByPID asks for new connections until pid answers one, up to d,
// and returns the pid of the last answer. (One may still reach the old
// worker: an accept it had begun as it stopped. That one is served.)
func answeredByPID(t *testing.T, addr string, pid int, d time.Duration) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(d)
	for {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("GET %s: %v", addr, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
		if got == pid || time.Now().After(deadline) {
			return got
		}
	}
}

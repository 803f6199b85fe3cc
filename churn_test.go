//go:build linux

package handoff_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
	"github.com/handoff-go/handoff/internal/testserver/testload"
)

// Upgrade churn (issue 10): an upgrade every 100-150 ms, each started as
// soon as the previous one's successor is ready and in probation long
// enough for the chains to overlap (A drains while B hands over to C), under
// non-retrying mixed load: POSTs, half keep-alive and half a connection per
// request, slow requests in flight at every upgrade, and idle keep-alive
// connections held open throughout. No request may fail, every generation
// serves, and nothing is left running after the stop.
//
// CHURN_UPGRADES sets the number of upgrades (default 60: the CI form;
// scripts/churn runs the long form).

func TestChurn_Migrate_NoFailedRequests(t *testing.T)   { testChurn(t, true) }
func TestChurn_NoMigrate_NoFailedRequests(t *testing.T) { testChurn(t, false) }

func testChurn(t *testing.T, migrate bool) {
	upgrades := testserver.ChurnUpgrades(t, false)
	s := startHello(t, "-probation", "50ms", "-drain-idle", "300ms", "-migrate="+strconv.FormatBool(migrate))
	cfg := testload.Churn("http://" + s.addr + "/")
	cfg.Timeout = 15 * time.Second
	l := startLoadWith(t, cfg)
	l.Settle(t, 200)

	start := time.Now()
	gens := []int{s.cmd.Process.Pid}
	pid := gens[0]
	wrong, refused := 0, 0
	for i := 0; i < upgrades; i++ {
		// 100-150 ms between triggers, whatever the upgrade took.
		next := time.Now().Add(100*time.Millisecond + time.Duration(i%6)*10*time.Millisecond)
		np, status, tries := churnUpgrade(t, s, pid)
		refused += tries - 1
		if np == pid || np == 0 {
			t.Fatalf("upgrade %d of %d refused or failed: %s", i+1, upgrades, status)
		}
		gens = append(gens, np)
		pid = np
		// Every generation serves: new connections now reach it. (One
		// may still be answered by the old generation: an accept(2) it
		// had begun as it paused. That one is served, not lost.)
		if got := answeredBy(t, s.addr, np, 2*time.Second); got != np {
			wrong++
			t.Logf("upgrade %d: new connections were answered by %d, not the new generation %d", i+1, got, np)
		}
		if d := time.Until(next); d > 0 {
			// Pacing the trigger, not synchronising: the test waits on
			// READY=1 above, and this only keeps the rate at 10/s or less.
			<-time.After(d)
		}
	}
	took := time.Since(start)
	l.Settle(t, 200)
	r := l.stop()

	// Stop: the serving generation drains, and every generation is gone.
	testserver.Terminate(t, pid)
	for _, p := range gens {
		waitExit(t, p, 40*time.Second)
	}

	unserved := 0 // by the load alone: reported, not asserted (a generation may live 100 ms)
	for _, p := range gens {
		if r.servedBy(p) == 0 {
			unserved++
		}
	}
	t.Logf("churn (migrate=%v): %d upgrades in %v (%.1f/s), %s, %.2f failures per million, generations the load missed %d",
		migrate, upgrades, took.Round(time.Millisecond), float64(upgrades)/took.Seconds(), r, testload.PerMillion(r.Report), unserved)
	if refused > 0 {
		// Options.MaxDraining (4): the library refuses an upgrade while 4
		// older generations still drain, and tells nobody (issue 10 items
		// 3 and 5, not this test's subject): the trigger was sent again.
		t.Logf("%d triggers were refused silently (MaxDraining) and sent again", refused)
	}
	if r.failed() {
		t.Errorf("requests failed under churn: %s", r)
	}
	if wrong > 0 {
		t.Errorf("%d of %d new generations did not answer a new connection", wrong, upgrades)
	}
}

// churnUpgrade sends SIGHUP to the serving generation and waits for the
// upgrade's READY=1. A trigger the library refuses without a word (at
// Options.MaxDraining it only logs "signal ignored") is sent again once the
// log shows the refusal, up to 20 times; tries counts the SIGHUPs sent.
func churnUpgrade(t *testing.T, s *server, pid int) (newPid int, status string, tries int) {
	t.Helper()
	for tries = 1; ; tries++ {
		ignored := strings.Count(s.stderr.String(), "handoff: signal ignored")
		testserver.Hangup(t, pid)
		deadline := time.After(90 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		for {
			select {
			case m, open := <-s.events:
				if !open {
					t.Fatal("notify socket closed")
				}
				if p, err := strconv.Atoi(get(m, "MAINPID")); err == nil {
					s.pids.Add(p)
				}
				if get(m, "READY") == "1" {
					tick.Stop()
					p, _ := strconv.Atoi(get(m, "MAINPID"))
					return p, get(m, "STATUS"), tries
				}
				continue
			case <-tick.C:
			case <-deadline:
				t.Fatalf("no READY=1 within 90s of SIGHUP to %d", pid)
			}
			if tries < 20 && strings.Count(s.stderr.String(), "handoff: signal ignored") > ignored {
				break
			}
		}
		tick.Stop()
	}
}

// answeredBy asks for new connections until pid answers one, up to d, and
// returns the pid of the last answer.
func answeredBy(t testing.TB, addr string, pid int, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := servedBy(t, addr)
		if got == pid || time.Now().After(deadline) {
			return got
		}
	}
}

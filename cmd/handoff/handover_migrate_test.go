//go:build linux

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/testserver"
)

// waitAnnounced waits until the supervisor's debug log shows a worker
// announcing its handover socket in READY=1, and reports whether it did.
func waitAnnounced(s *sup, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(s.stderr.String(), proto.HandoverField+"=/") {
			return true
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	return false
}

// Under the supervisor, hello (which migrates keep-alive connections by
// default) hands its connections to the worker that replaces it: 200 held
// connections, each sending one POST a second with a client that never
// retries or reconnects, through 5 `handoff upgrade`s. No request fails,
// no connection closes, and after each upgrade every connection, on the
// same local port, is answered by the new worker's pid; the old worker
// then exits.
func TestHandoverUnderRun_HeldConnectionsMoveToEachNewWorker(t *testing.T) {
	const conns, upgrades = 200, 5
	// -v logs the READY=1 datagrams, where the announcement shows.
	s := startSup(t, append([]string{"-v"}, fastFlags...), bin.hello, "-addr", "ADDR")
	if !waitAnnounced(s, 5*time.Second) {
		t.Fatal("hello announced no " + proto.HandoverField + " in READY=1 under the supervisor")
	}
	pid := onlyServingPID(t, s)

	held := testserver.Hold(t, s.addr, conns, time.Second)
	waitAll := func(pid int, what string) time.Duration {
		t.Helper()
		return held.WaitAll(t, pid, what, 15*time.Second)
	}

	waitAll(pid, "before the first upgrade")
	for i := 1; i <= upgrades; i++ {
		what := fmt.Sprintf("upgrade %d", i)
		start := time.Now()
		out, code := s.upgrade(t)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", what, code, out)
		}
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		next := servingPIDs(st)
		if len(next) != 1 || next[0] == pid {
			t.Fatalf("%s: serving %v after pid %d: %+v", what, next, pid, st)
		}
		moved := waitAll(next[0], what)
		// The old worker has nothing left to drain: it exits.
		old := pid
		s.waitState(func(st control.Status) bool {
			for _, g := range st.Generations {
				for _, w := range g.Workers {
					if w.PID == old {
						return false
					}
				}
			}
			return true
		}, 30*time.Second, fmt.Sprintf("%s: old worker %d gone", what, old))
		t.Logf("%s: pid %d -> %d; all %d connections answered by the new pid %v after the upgrade returned (%v in all)",
			what, old, next[0], conns, moved.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		pid = next[0]
	}
	total := held.Check(t)
	held.Stop()
	t.Logf("%d connections, %d requests, 0 failed, 0 closed, through %d upgrades", conns, total, upgrades)
	s.stopClean(t)
}

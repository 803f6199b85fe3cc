//go:build unix

package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/launch"
)

// kill -9 of the supervisor with a 3 s request in flight, 20 times: the
// worker gets its drain signal as its parent-death signal (once, however
// many of the supervisor's threads exit), keeps logging to stderr (-v)
// although the pipe it started with has no reader any more, and answers the
// request: every answer 200.
func TestSupervisorKilled_RequestInFlightAnswered(t *testing.T) {
	needProc(t)
	const runs, together = 20, 4
	type run struct {
		n      int
		s      *sup
		pid    int
		answer <-chan string
	}
	failed := 0
	var cut []string // reported once every worker is gone
	for round := 0; round < runs/together; round++ {
		var rs []run
		for i := 0; i < together; i++ {
			s := startSup(t, []string{"--drain-timeout", "20s"}, bin.hello, "-addr", "ADDR", "-v")
			pid := onlyServingPID(t, s)
			rs = append(rs, run{n: round*together + i + 1, s: s, pid: pid, answer: slowRequest(t, s.addr, pid, 3000)})
		}
		for _, r := range rs {
			r.s.cmd.Process.Signal(syscall.SIGKILL)
		}
		for _, r := range rs {
			var got string
			select {
			case got = <-r.answer:
			case <-time.After(20 * time.Second):
				got = "no answer within 20s"
			}
			if !strings.Contains(got, " 200 ") {
				failed++
				cut = append(cut, fmt.Sprintf("run %d: the request in flight on worker %d when its supervisor was killed got %q, want 200", r.n, r.pid, got))
			}
		}
		for _, r := range rs {
			// It drains and exits on its own.
			deadline := time.Now().Add(20 * time.Second)
			for syscall.Kill(r.pid, 0) == nil && !launch.Zombie(r.pid) {
				if time.Now().After(deadline) {
					t.Errorf("run %d: worker %d still running 20s after its supervisor was killed", r.n, r.pid)
					break
				}
				time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
			}
		}
	}
	for _, c := range cut {
		t.Error(c)
	}
	t.Logf("%d of %d runs failed", failed, runs)
}

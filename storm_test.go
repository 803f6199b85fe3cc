//go:build linux

package handoff_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/testserver"
)

// A signal storm: 50 SIGHUPs in a burst at the serving generation, under
// load: the first starts an upgrade, and every one after it (the kernel
// merges some: a pending signal is one bit), all arriving while it runs,
// shares one follow-up, which the new generation runs once
// the first is over (it is passed on as SIGHUP). No request fails, and
// exactly two new generations take over, one after the other.
func TestSignalStorm_OneUpgradeAndOneFollowUp_NoFailedRequests(t *testing.T) {
	s := startHello(t, "-probation", "200ms")
	load := startLoad(t, s.addr)
	load.Settle(t, 200)
	first := s.cmd.Process.Pid
	// The first signal, alone, so that the rest surely arrive while its
	// upgrade runs (the kernel may merge a burst into one delivery).
	testserver.Hangup(t, first)
	s.waitFor(func(m sdnotify.Message) bool {
		st := get(m, "STATUS")
		return get(m, "RELOADING") == "1" && strings.HasPrefix(st, "upgrading to generation")
	}, 20*time.Second, "RELOADING=1 of the first upgrade")
	for i := 0; i < 49; i++ {
		testserver.Hangup(t, first)
	}
	second, status := s.nextReady()
	if second == first {
		t.Fatalf("no upgrade after the storm: %s", status)
	}
	third := second
	for third == second {
		// The old generation's "passed on" READY=1 names the second
		// again; the third generation's cutover names the third.
		third, status = s.nextReady()
	}
	if third == first {
		t.Fatalf("no follow-up upgrade after the storm: %s", status)
	}
	waitExit(t, first, 30*time.Second)
	waitExit(t, second, 30*time.Second)
	load.Settle(t, 200)
	r := load.stop()
	if r.failed() {
		t.Fatalf("requests failed during the signal storm: %s", r)
	}
	if got := servedBy(t, s.addr); got != third {
		t.Fatalf("served by %d, want %d", got, third)
	}
	// No third upgrade was started by the storm: nothing more arrived.
	for {
		select {
		case m := <-s.events:
			if pid := get(m, "MAINPID"); get(m, "READY") == "1" && pid != "" && pid != strconv.Itoa(third) {
				t.Fatalf("unexpected further upgrade: %v", m)
			}
			continue
		default:
		}
		break
	}
}

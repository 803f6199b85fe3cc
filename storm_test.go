//go:build linux

package handoff_test

import (
	"syscall"
	"testing"
	"time"
)

// A signal storm: 50 SIGHUPs in a burst at the serving generation, under
// load. The kernel merges some (a pending signal is one bit); of those that
// arrive, one upgrade runs and the rest are refused (an upgrade is running,
// or this generation no longer serves). No request fails, and exactly one
// new generation takes over.
func TestSignalStorm_OneUpgrade_NoFailedRequests(t *testing.T) {
	s := startHello(t, "-probation", "200ms")
	load := startLoad(t, s.addr)
	load.settle(t, 200)
	first := s.cmd.Process.Pid
	for i := 0; i < 50; i++ {
		if err := syscall.Kill(first, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	second, status := s.nextReady()
	if second == first {
		t.Fatalf("no upgrade after the storm: %s", status)
	}
	waitExit(t, first, 30*time.Second)
	load.settle(t, 200)
	r := load.stop()
	if r.failed() {
		t.Fatalf("requests failed during the signal storm: %s", r)
	}
	if got := servedBy(t, s.addr); got != second {
		t.Fatalf("served by %d, want %d", got, second)
	}
	// No second upgrade was started by the storm: nothing more arrived.
	select {
	case m := <-s.events:
		if get(m, "READY") == "1" {
			t.Fatalf("unexpected second upgrade: %v", m)
		}
	default:
	}
}

//go:build linux

package handoff_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/testserver"
)

// systemd is always answered (issue 10 item 5). Type=notify-reload sends a
// reload signal and waits for RELOADING=1 carrying a MONOTONIC_USEC no
// older than its signal, then for READY=1; a signal that gets neither hangs
// `systemctl reload` until its timeout. Here: one SIGHUP that upgrades, and
// one that arrives during that upgrade's probation (it joins the queue and
// is passed on to the new generation). Each must get a fresh RELOADING=1 at
// once, every RELOADING=1 must be followed by a READY=1 with a STATUS, the
// upgrades' RELOADING=1 carry EXTEND_TIMEOUT_USEC, and the sequence ends in
// READY=1.
func TestReloadSignals_SystemdAlwaysAnswered(t *testing.T) {
	s := startHello(t, "-probation", "2s")
	first := s.cmd.Process.Pid
	var got []sdnotify.Message
	collect := func(ok func(sdnotify.Message) bool, what string) sdnotify.Message {
		return s.waitFor(func(m sdnotify.Message) bool {
			got = append(got, m)
			return ok(m)
		}, 30*time.Second, what)
	}
	freshReloading := func(since int64) func(sdnotify.Message) bool {
		return func(m sdnotify.Message) bool {
			usec, err := strconv.ParseInt(get(m, "MONOTONIC_USEC"), 10, 64)
			return get(m, "RELOADING") == "1" && err == nil && usec >= since
		}
	}

	t1 := monotonicUsec(t)
	testserver.Hangup(t, first)
	collect(freshReloading(t1), "RELOADING=1 for the first SIGHUP")
	m := collect(func(m sdnotify.Message) bool { return get(m, "READY") == "1" }, "READY=1 of the first upgrade")
	second, _ := strconv.Atoi(get(m, "MAINPID"))
	if second == first || second == 0 {
		t.Fatalf("first upgrade: %v", m)
	}
	// The old generation is in probation (2 s): a SIGHUP to it now joins.
	t2 := monotonicUsec(t)
	testserver.Hangup(t, first)
	start := time.Now()
	collect(freshReloading(t2), "RELOADING=1 for the SIGHUP during probation")
	t.Logf("RELOADING=1 for the joining SIGHUP came after %v", time.Since(start).Round(time.Millisecond))
	collect(func(m sdnotify.Message) bool {
		pid, _ := strconv.Atoi(get(m, "MAINPID"))
		return get(m, "READY") == "1" && pid != first && pid != second && pid != 0
	}, "READY=1 of the follow-up, in the new generation")

	// The sequence systemd needs.
	pending, reloads, extends := 0, 0, 0
	var trace []string
	for _, m := range got {
		switch {
		case get(m, "RELOADING") == "1":
			pending++
			reloads++
			if _, ok := m.Get("EXTEND_TIMEOUT_USEC"); ok {
				extends++
			}
		case get(m, "READY") == "1":
			if get(m, "STATUS") == "" {
				t.Errorf("READY=1 without a STATUS: %v", m)
			}
			pending = 0
		}
		trace = append(trace, strings.ReplaceAll(string(m.Bytes()), "\n", " "))
	}
	t.Logf("sent to systemd:\n%s", strings.Join(trace, "\n"))
	if pending != 0 {
		t.Errorf("the sequence ends with RELOADING=1 unanswered by READY=1")
	}
	if reloads < 3 {
		t.Errorf("%d RELOADING=1, want one per signal and per upgrade (3 or more)", reloads)
	}
	if extends < 2 {
		t.Errorf("%d RELOADING=1 with EXTEND_TIMEOUT_USEC, want one per upgrade (2)", extends)
	}
}

func monotonicUsec(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// A `handoff run --takeover S` newcomer of another uid (nobody) is refused
// by the directory check before it contacts anyone: it exits 2 naming the
// directory's owner, and the serving supervisor's worker serves on under
// a non-retrying load, untouched.
func TestTakeover_SupervisorNewcomerOfAnotherUID_RefusedServingOneUntouched(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("starting a process as nobody needs root")
	}
	path, first, old, l := servingForTakeover(t)
	ctlDir, err := os.MkdirTemp("", "tk-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ctlDir) })
	os.Chmod(ctlDir, 0o777)
	out, code := handoffCmdAs(t, testserver.AsNobody(), "run", "-q", "--listen", "http=tcp://"+first.addr,
		"--control", filepath.Join(ctlDir, "ctl.sock"), "--takeover", path, "--", bin.hello, "-addr", first.addr)
	if code != 2 || !strings.Contains(out, "belongs to uid 0, this process runs as uid 65534") {
		t.Fatalf("the newcomer as nobody: exit %d, want 2 naming the directory's owner:\n%s", code, out)
	}
	l.waitRequests(t, 20)
	if pid := onlyServingPID(t, first); pid != old {
		t.Fatalf("the serving supervisor's worker changed from %d to %d", old, pid)
	}
	l.done(t)
	first.stopClean(t)
}

// A supervisor that served at S was killed (SIGKILL) and left its socket
// file: connect is refused, so the next `handoff run --takeover S` starts
// first (it binds its sockets, no "address in use"), replaces the stale
// file once ready, and a third one then takes over from it normally under
// a non-retrying load.
func TestTakeover_StaleSocketFileOfAKilledSupervisor_NextStartsFirst(t *testing.T) {
	path := testserver.PrivateSocketPath(t, "tk.sock")
	killed := startSup(t, takeoverFlags(path), bin.hello, "-addr", "ADDR")
	worker := onlyServingPID(t, killed)
	killed.cmd.Process.Kill()
	killed.exitCode(t, 30*time.Second, "the killed supervisor still runs")
	// Its worker gets its parent-death signal and drains: wait for it, so
	// the next one's own port is the only thing listening.
	deadline := time.Now().Add(30 * time.Second)
	for !errors.Is(syscall.Kill(worker, 0), syscall.ESRCH) {
		if time.Now().After(deadline) {
			t.Fatalf("the killed supervisor's worker %d still runs after 30s", worker)
		}
		time.Sleep(20 * time.Millisecond) // polling a pid, under a deadline
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("no stale socket file to test with: %v", err)
	}

	next := startSup(t, takeoverFlags(path), bin.hello, "-addr", "ADDR")
	if out := next.stderr.String(); !strings.Contains(out, "stale socket file") {
		t.Errorf("the next supervisor does not say it found a stale file:\n%s", out)
	}
	l := startLoad(t, next.addr, 4)
	l.waitRequests(t, 20)
	third := startSup(t, takeoverFlags(path), bin.hello, "-addr", next.addr)
	wantTakenOver(t, next, "the supervisor that started first")
	next.assertNoneLeft(t)
	l.waitRequests(t, 20)
	ok := l.done(t)
	t.Logf("%d requests, 0 failed, across the stale file and the takeover after it", ok)
	third.stopClean(t)
}

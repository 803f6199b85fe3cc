//go:build unix

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/takeover"
	"github.com/handoff-go/handoff/internal/testserver"
)

// takeoverFlags are fastFlags with --takeover path and extra.
func takeoverFlags(path string, extra ...string) []string {
	return append(append(append([]string(nil), fastFlags...), "--takeover", path), extra...)
}

// servingForTakeover starts the first `handoff run --takeover S` (hello)
// and a non-retrying load on it; old is its worker.
func servingForTakeover(t *testing.T) (path string, first *sup, old int, l *load) {
	t.Helper()
	path = testserver.PrivateSocketPath(t, "tk.sock")
	first = startSup(t, takeoverFlags(path), bin.hello, "-addr", "ADDR")
	old = onlyServingPID(t, first)
	l = startLoad(t, first.addr, 4)
	l.waitRequests(t, 20)
	return path, first, old, l
}

// A second `handoff run --takeover S`, started by the test (not by the
// first), takes the sockets, starts its workers and, once they are ready,
// the first drains its workers and exits 0: no request of a non-retrying
// load fails, and the second serves on the same address. Its --listen
// names the socket "http" at another address: the received socket is
// matched by name, and nothing is bound.
func TestTakeover_SecondSupervisorTakesOver_NoFailedRequests(t *testing.T) {
	path, first, old, l := servingForTakeover(t)

	began := time.Now()
	second := startSup(t, takeoverFlags(path), bin.hello, "-addr", first.addr)
	serving := time.Since(began)
	wantTakenOver(t, first, "the first supervisor")
	gone := time.Since(began)
	first.assertNoneLeft(t)
	newPID := onlyServingPID(t, second)
	l.waitRequests(t, 50)
	l.done(t)
	ok, _, pids := l.result()
	t.Logf("%d requests, 0 failed; the second serving %v after its start, the first gone after %v", ok, serving.Round(time.Millisecond), gone.Round(time.Millisecond))
	if pids[newPID] == 0 || pids[old] == 0 {
		t.Errorf("answers by pid %v: want some from the first's worker %d and the second's %d", pids, old, newPID)
	}
	st, err := second.status()
	if err != nil || st.Listeners[0].Address != "tcp://"+first.addr {
		t.Errorf("the second supervisor's socket: %+v, %v; want the first's, tcp://%s", st.Listeners, err, first.addr)
	}
	// Its generations are numbered after the first's (1): a worker's
	// generation tags its QUIC connection IDs, and two of the same number
	// would take each other's datagrams for their own.
	if err == nil && (len(st.Generations) == 0 || st.Generations[0].Number != 2) {
		t.Errorf("the second supervisor's generations %+v: want its first numbered 2, after the first supervisor's", st.Generations)
	}
	second.stopClean(t)
}

// Faults, the first serving under load throughout: a newcomer whose worker
// never gets ready holds the lock, so a second newcomer meanwhile exits 1
// with the busy error without touching anything; the first newcomer then
// fails its start (exit 1) and the first supervisor, whose worker never
// stopped, serves on and can still be taken over.
func TestTakeover_NewcomerNeverReady_AndABusyOne_FirstServesOn(t *testing.T) {
	path, first, old, l := servingForTakeover(t)

	hung := launchSup(t, takeoverFlags(path, "--ready-timeout", "3s", "--crash-limit", "1"), "sleep", "600")
	hung.waitState(func(st control.Status) bool { return st.State == "starting" }, 15*time.Second, "the never-ready newcomer started")
	busy := launchSup(t, takeoverFlags(path), bin.hello, "-addr", first.addr)
	if code := busy.exitCode(t, 15*time.Second, "the second newcomer at once still runs"); code != 1 {
		t.Fatalf("the second newcomer at once exited %d, want 1", code)
	}
	if out := busy.stderr.String(); !strings.Contains(out, "another process is taking over") {
		t.Errorf("the second newcomer at once does not say why:\n%s", out)
	}
	if code := hung.exitCode(t, 30*time.Second, "the never-ready newcomer still runs"); code != 1 {
		t.Fatalf("the never-ready newcomer exited %d, want 1", code)
	}
	hung.assertNoneLeft(t)
	l.waitRequests(t, 20)
	if pid := onlyServingPID(t, first); pid != old {
		t.Fatalf("the first supervisor's worker changed from %d to %d", old, pid)
	}

	next := startSup(t, takeoverFlags(path), bin.hello, "-addr", first.addr)
	wantTakenOver(t, first, "the first supervisor")
	l.waitRequests(t, 20)
	l.done(t)
	next.stopClean(t)
}

// After a takeover the first supervisor's stop leaves the file of a unix
// --listen socket, now the newcomer's, in place (closing a net listener
// would unlink it): the newcomer's worker accepts there.
func TestTakeover_UnixListenerFileStaysWithTheNewcomer(t *testing.T) {
	path := testserver.PrivateSocketPath(t, "tk.sock")
	sock := testserver.PrivateSocketPath(t, "app.sock")
	flags := takeoverFlags(path, "--listen", "sock=unix://"+sock)
	first := startSup(t, flags, bin.many, "-addr", "ADDR", "-unix", sock)
	second := startSup(t, flags, bin.many, "-addr", first.addr, "-unix", sock)
	wantTakenOver(t, first, "the first supervisor")
	if !takeover.New(sock).Alive() { // a connect to the path
		t.Fatalf("nothing answers at the unix socket %s after the first supervisor exited", sock)
	}
	second.stopClean(t)
}

// wantTakenOver waits (30 s at most) for s, a supervisor taken over from,
// to exit 0 once its workers drained; what names it in the failure.
func wantTakenOver(t *testing.T, s *sup, what string) {
	t.Helper()
	if code := s.exitCode(t, 30*time.Second, what+" still runs after the takeover"); code != 0 {
		t.Fatalf("%s exited %d, want 0:\n%s", what, code, s.stderr.String())
	}
}

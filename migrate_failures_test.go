//go:build linux

package handoff_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/loadgen"
	"github.com/handoff-go/handoff/internal/testserver"
)

// The failure paths of keep-alive migration (issue 10, audit (a) and (b)):
// a connection taken for migration that cannot move is served where it is,
// never closed unanswered, and nobody acknowledges a connection it cannot
// serve.

// busyAndHeld is 8 busy keep-alive clients (a request right after each
// answer, so a close races a request on its way, as in production) and 40
// held idle connections, each sending a POST every 300 ms. A client told
// "Connection: close" reconnects (not a failure); a reset, an EOF or no
// answer is a failure.
func busyAndHeld(t *testing.T, addr string) *load {
	t.Helper()
	return startLoadWith(t, loadgen.Config{
		URL:          "http://" + addr + "/",
		Mode:         loadgen.ModeKeepAlive,
		Clients:      8,
		HoldConns:    40,
		HoldInterval: 300 * time.Millisecond,
		Timeout:      30 * time.Second,
	})
}

// starveFDs sets pid's RLIMIT_NOFILE to its lowest free descriptor number:
// it keeps what it has and can open nothing more (dup, accept, recvmsg's
// descriptors all fail with EMFILE). It returns the undo.
func starveFDs(t *testing.T, pid int) func() { return starveFDsBut(t, pid, 0) }

// starveFDsBut is starveFDs with room for spare more descriptors.
func starveFDsBut(t *testing.T, pid, spare int) func() {
	t.Helper()
	used, err := testserver.FDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	free := 0
	for used[free] != "" {
		free++
	}
	var old unix.Rlimit
	lim := unix.Rlimit{Cur: uint64(free + spare), Max: 0}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	lim.Max = old.Max
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil); err != nil {
		t.Fatalf("prlimit %d: %v", pid, err)
	}
	t.Logf("pid %d: RLIMIT_NOFILE %d (was %d), %d descriptors open", pid, free, old.Cur, len(used))
	return func() { unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil) }
}

// (a), the sending side: the old generation runs out of descriptors when
// it dups its idle connections for the successor ("send conns (0 of 40
// handed over): dup: too many open files"). Before the fix it closed every
// connection it had taken, and those net/http let go of afterwards waited
// in the outbox until DrainTimeout: clients saw resets and EOFs. Now they
// are served where they are ("Connection: close") and none fails.
//
// Busy keep-alive clients (a request right after each answer) make the
// close race a request on its way, as in production; held idle ones add
// connections that sit in the outbox.
func TestMigrate_SenderOutOfDescriptors_ConnectionsServedNotClosed(t *testing.T) {
	s, l, old, _ := upgradeUnderHeldLoad(t)
	// In probation now: the old generation keeps its connections until it
	// drains, and then dups them for the successor.
	starveFDs(t, old)
	waitExit(t, old, 40*time.Second)
	l.Settle(t, 120)
	r := l.stop()
	t.Logf("%s", r)
	logLines(t, s, "handover", "migrate")
	if !strings.Contains(s.stderr.String(), "too many open files") {
		t.Errorf("the old generation never ran out of descriptors: the test did not test")
	}
	if r.failed() {
		t.Fatalf("requests failed when the old generation could not dup its connections: %s", r)
	}
}

// (a), the receiving side: the new generation runs out of descriptors as
// the connections arrive. It used to acknowledge a frame before making its
// descriptors connections, and then drop what it could not convert; now it
// refuses the frame before the ack, and the old generation serves them.
//
// Two depths: no descriptor left at all (recvmsg itself cannot install the
// frame's descriptor: MSG_CTRUNC), and one left (recvmsg takes it, making
// it a connection needs a dup that fails).
func TestMigrate_ReceiverOutOfDescriptors_OldGenerationServesThem(t *testing.T) {
	for _, spare := range []int{0, 1} {
		t.Run(fmt.Sprintf("spare=%d", spare), func(t *testing.T) { testReceiverOutOfFDs(t, spare) })
	}
}

func testReceiverOutOfFDs(t *testing.T, spare int) {
	s, l, old, next := upgradeUnderHeldLoad(t)
	undo := starveFDsBut(t, next, spare)
	waitExit(t, old, 40*time.Second)
	// Reconnecting clients wait in the kernel's accept queue meanwhile.
	undo()
	l.Settle(t, 120)
	r := l.stop()
	t.Logf("%s", r)
	logLines(t, s, "handover", "migrate")
	if !strings.Contains(s.stderr.String(), "too many open files") && !strings.Contains(s.stderr.String(), "EMFILE") {
		t.Errorf("the new generation never ran out of descriptors: the test did not test")
	}
	if r.failed() {
		t.Fatalf("requests failed when the new generation could not take the connections: %s", r)
	}
}

// upgradeUnderHeldLoad starts hello under busy and held keep-alive load
// (busyAndHeld), upgrades it once, and returns once the new generation is
// ready: the old one is in probation, still holding its connections.
func upgradeUnderHeldLoad(t *testing.T) (s *server, l *load, old, next int) {
	t.Helper()
	s = startHello(t, "-probation", "1s", "-drain-idle", "2s")
	l = busyAndHeld(t, s.addr)
	l.Settle(t, 120)
	old = s.cmd.Process.Pid
	testserver.Hangup(t, old)
	next, status := s.nextReady()
	if next == old {
		t.Fatalf("upgrade failed: %s", status)
	}
	return s, l, old, next
}

// (b) A chain A→B→C: B drains for C while A still has a slow request in
// flight. When A's request ends, A passes that connection to B, whose
// listener is closed. B used to acknowledge it and close it ("a connection
// nobody takes was closed"): the client's next request on it got EOF. Now
// B serves it (or migrates it on to C), and the client never notices.
func TestMigrate_ChainWhileOldestDrains_SlowRequestsConnectionKeepsAnOwner(t *testing.T) {
	s := startHello(t, "-probation", "50ms", "-drain-idle", "2s")
	a := s.cmd.Process.Pid

	onA := testserver.DialKeepAlive(t, s.addr)
	send(t, onA, "/slow?ms=3000")
	b, status := s.upgrade(a)
	if b == a {
		t.Fatalf("upgrade A→B failed: %s", status)
	}
	if got := answeredBy(t, s.addr, b, 5*time.Second); got != b {
		t.Fatalf("B (%d) does not answer new connections; %d does", b, got)
	}
	// B has a slow request of its own, so its drain lasts past A's.
	onB := testserver.DialKeepAlive(t, s.addr)
	send(t, onB, "/slow?ms=6000")
	c, status := s.upgrade(b)
	if c == b {
		t.Fatalf("upgrade B→C failed: %s", status)
	}
	if pid, err := receive(onA); err != nil || pid != a {
		t.Fatalf("A's slow request: answered by %d, %v (want A, %d)", pid, err, a)
	}
	// A passes the connection on once it is idle; give it the time to.
	waitLogCount(t, s, "handoff: migrate: keep-alive connections", 1, 20*time.Second)
	send(t, onA, "/")
	pid, err := receive(onA)
	if err != nil {
		t.Fatalf("the next request on A's connection after the chain A(%d)→B(%d)→C(%d): %v", a, b, c, err)
	}
	t.Logf("A's connection answered by %d after the chain A(%d)→B(%d)→C(%d)", pid, a, b, c)
	if pid, err := receive(onB); err != nil || pid != b {
		t.Fatalf("B's slow request: answered by %d, %v (want B, %d)", pid, err, b)
	}
}

// send posts path on k, failing the test if it cannot be written.
func send(t *testing.T, k *testserver.KeepAlive, path string) {
	t.Helper()
	k.Conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := k.Send(path); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// receive reads k's answer: the pid that answered, or why none did.
func receive(k *testserver.KeepAlive) (int, error) {
	a, err := k.Receive()
	if err == nil && a.Code != http.StatusOK {
		err = fmt.Errorf("status %s", a.Status)
	}
	return a.PID, err
}

// logLines logs the servers' stderr lines that contain any of subs.
func logLines(t *testing.T, s *server, subs ...string) {
	t.Helper()
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		for _, sub := range subs {
			if strings.Contains(line, sub) {
				t.Log(line)
				break
			}
		}
	}
}

// waitLogCount waits until the servers' stderr holds want at least n times.
func waitLogCount(t *testing.T, s *server, want string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for strings.Count(s.stderr.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (x%d) within %v", want, n, d)
		}
		<-tick.C
	}
}

//go:build linux

package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/testserver"
)

// environ reads a worker's initial environment (what its supervisor gave
// it: /proc keeps it after the library unsets its variables).
func environ(t *testing.T, pid int) map[string]string {
	t.Helper()
	env, err := testserver.Environ(pid)
	if err != nil {
		t.Fatalf("environment of pid %d: %v", pid, err)
	}
	return env
}

// The workers' handover crosses the two supervisors: 50 keep-alive
// connections held open on the first supervisor's worker, each sending a
// POST every 200 ms with a client that never retries or reconnects, plus
// a non-retrying load. A second `handoff run --takeover S`, started by
// the test, is introduced to the first's worker; once its worker is ready
// the first drains, and every held connection, on the same TCP
// connection, is answered by the second's worker: no request fails, no
// connection closes, and the first supervisor and its worker are gone.
func TestTakeover_HeldConnectionsMoveToTheNewcomersWorker_NoFailedRequests(t *testing.T) {
	const conns = 50
	path := testserver.PrivateSocketPath(t, "tk.sock")
	first := startSup(t, takeoverFlags(path), bin.hello, "-addr", "ADDR")
	old := onlyServingPID(t, first)
	if got := environ(t, old)[proto.EnvHandoverPeer]; got != proto.HandoverPeerUID {
		t.Fatalf("the first supervisor's worker has %s=%q, want %q", proto.EnvHandoverPeer, got, proto.HandoverPeerUID)
	}
	held := testserver.Hold(t, first.addr, conns, 200*time.Millisecond)
	held.WaitAll(t, old, "before the takeover", 10*time.Second)
	l := startLoad(t, first.addr, 4)
	l.waitRequests(t, 20)

	began := time.Now()
	second := startSup(t, takeoverFlags(path), bin.hello, "-addr", first.addr)
	newPID := onlyServingPID(t, second)
	env := environ(t, newPID)
	if env[proto.EnvHandover] == "" || env[proto.EnvHandoverPID] != strconv.Itoa(old) {
		t.Fatalf("the newcomer's worker %d was introduced to %s=%q %s=%q, want the first's worker %d",
			newPID, proto.EnvHandover, env[proto.EnvHandover], proto.EnvHandoverPID, env[proto.EnvHandoverPID], old)
	}
	held.WaitAll(t, newPID, "after the takeover", 20*time.Second)
	moved := time.Since(began)
	wantTakenOver(t, first, "the first supervisor")
	first.assertNoneLeft(t)
	l.waitRequests(t, 20)
	total := held.Check(t)
	held.Stop()
	ok := l.done(t)
	t.Logf("%d held connections (%d requests) all answered by the newcomer's worker %d on the same connection %v after the newcomer was started; load: %d requests, 0 failed",
		conns, total, newPID, moved.Round(time.Millisecond), ok)
	second.stopClean(t)
}

// The state blob of the first supervisor's worker reaches the newcomer's
// worker of its slot, intact (testdata/state: 8 MiB, SHA-256 checked
// against the test's own digest of the stream).
func TestTakeover_StateBlobReachesTheNewcomersWorker(t *testing.T) {
	const size = 8 << 20
	sum := sha256.New()
	io.CopyN(sum, rand.NewChaCha8([32]byte{'h', 'a', 'n', 'd', 'o', 'f', 'f'}), size) // testdata/state's stream
	want := fmt.Sprintf("state: received bytes=%d sha256=%x version=1", size, sum.Sum(nil))

	path := testserver.PrivateSocketPath(t, "tk.sock")
	first := startSup(t, takeoverFlags(path), bin.state, "-addr", "ADDR", "-size", itoa(size))
	second := startSup(t, takeoverFlags(path), bin.state, "-addr", first.addr, "-size", itoa(size))
	wantTakenOver(t, first, "the first supervisor")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(second.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q from the newcomer's worker within 10s:\n%s", want, second.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the output, under a deadline
	}
	second.stopClean(t)
}

// Without an introduction (the first supervisor's worker announced no
// handover socket: its TMPDIR does not exist, so it has none), the
// newcomer still takes over: its worker starts without one, and the old
// worker drains with Connection: close; no request of a non-retrying load
// fails.
func TestTakeover_NoIntroduction_OldWorkersDrain_NoFailedRequests(t *testing.T) {
	path := testserver.PrivateSocketPath(t, "tk.sock")
	missing := t.TempDir() + "/missing"
	if _, err := os.Stat(missing); err == nil {
		t.Fatal(missing + " exists")
	}
	first := startSup(t, takeoverFlags(path), "env", "TMPDIR="+missing, bin.hello, "-addr", "ADDR")
	old := onlyServingPID(t, first)
	l := startLoad(t, first.addr, 4)
	l.waitRequests(t, 20)
	second := startSup(t, takeoverFlags(path), bin.hello, "-addr", first.addr)
	wantTakenOver(t, first, "the first supervisor")
	first.assertNoneLeft(t)
	newPID := onlyServingPID(t, second)
	if h := environ(t, newPID)[proto.EnvHandover]; h != "" {
		t.Errorf("the newcomer's worker was introduced to %q; the first's worker announced nothing", h)
	}
	l.waitRequests(t, 50)
	ok := l.done(t)
	_, _, pids := l.result()
	if pids[old] == 0 || pids[newPID] == 0 {
		t.Errorf("answers by pid %v: want some from the first's worker %d and the newcomer's %d", pids, old, newPID)
	}
	t.Logf("%d requests, 0 failed", ok)
	second.stopClean(t)
}

// A newcomer supervisor in a pid namespace of its own (unshare --pid):
// the serving supervisor's introductions name pids it cannot check, so it
// refuses them and says why; it still takes over, and the old worker
// drains with Connection: close; no request of a non-retrying load fails.
func TestTakeover_NewcomerInAnotherPIDNamespace_RefusesTheIntroductions_NoFailedRequests(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a new pid namespace")
	}
	wrap := []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}
	if err := exec.Command(wrap[0], append(wrap[1:], "true")...).Run(); err != nil {
		t.Skipf("unshare --pid --fork --mount-proc does not work here: %v", err)
	}
	path, first, _, l := servingForTakeover(t)
	second := launchSupWrapped(t, wrap, takeoverFlags(path), bin.hello, "-addr", first.addr)
	second.waitState(func(st control.Status) bool { return st.State == "serving" }, 15*time.Second, "the newcomer in its own pid namespace serving")
	wantTakenOver(t, first, "the first supervisor")
	first.assertNoneLeft(t)
	if out := second.stderr.String(); !strings.Contains(out, "runs in another pid namespace") {
		t.Errorf("the newcomer does not say why it refused the introductions:\n%s", out)
	}
	l.waitRequests(t, 50)
	ok := l.done(t)
	t.Logf("%d requests, 0 failed", ok)
}

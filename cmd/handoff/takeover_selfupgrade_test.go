//go:build linux

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// A supervisor run with --takeover still serves takeovers after
// `handoff upgrade --self`: its takeover listener crosses the re-exec in
// the state document (version 2). A newcomer then takes over from the
// re-executed supervisor as from any, its workers' handover included: 20
// held keep-alive connections move to the newcomer's worker, none fails,
// and the first supervisor exits 0.
func TestTakeover_AfterUpgradeSelf_TheNewBinaryServesTakeovers(t *testing.T) {
	path := testserver.PrivateSocketPath(t, "tk.sock")
	r := newSelfRig(t, takeoverFlags(path)...)
	held := testserver.Hold(t, r.addr, 20, 200*time.Millisecond)
	held.WaitAll(t, r.worker, "before the self-upgrade", 10*time.Second)
	if out, code := r.upgradeSelf(t); code != 0 || !strings.Contains(out, "re-executed in place") {
		t.Fatalf("upgrade --self: exit %d:\n%s", code, out)
	}
	held.WaitAll(t, r.worker, "after the self-upgrade", 10*time.Second)

	second := startSup(t, takeoverFlags(path), bin.hello, "-addr", r.addr)
	newPID := onlyServingPID(t, second)
	held.WaitAll(t, newPID, "after the takeover", 20*time.Second)
	wantTakenOver(t, r.sup, "the re-executed supervisor")
	r.assertNoneLeft(t)
	total := held.Check(t)
	held.Stop()
	t.Logf("20 held connections, %d requests, 0 failed, through upgrade --self and a takeover", total)
	second.stopClean(t)
}

//go:build unix

package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

func TestSupervisorAsPID1_ReapsOrphanedZombies(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a new pid namespace")
	}
	if err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "true").Run(); err != nil {
		t.Skipf("unshare --pid --fork --mount-proc does not work here: %v", err)
	}
	// Each subshell backgrounds a sleep and exits at once: the sleeps are
	// orphans, handed to the nearest subreaper, PID 1 of the namespace.
	app := shellApp(t, "#!/bin/sh\n(sleep 0.4 &)\n(sleep 0.5 &)\n(sleep 0.6 &)\nsystemd-notify --ready\nexec sleep 600\n")
	s := launchSupWrapped(t, []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}, []string{"-q"}, app)
	s.waitState(func(st control.Status) bool { return st.State == "serving" && st.PID == 1 }, 15*time.Second, "serving as pid 1")

	supHost := 0
	deadline := time.Now().Add(10 * time.Second)
	for supHost == 0 {
		if kids := testserver.Children(s.cmd.Process.Pid); len(kids) == 1 {
			supHost = kids[0]
		} else if time.Now().After(deadline) {
			t.Fatal("cannot find the supervisor under unshare")
		}
	}
	// Orphans arrive as our children; the reaper must collect them when
	// they exit, or they stay zombies (state Z) for good.
	sawOrphans := false
	for {
		sleeps, zombies := 0, 0
		for _, pid := range testserver.Children(supHost) {
			comm, state, _, _, _ := testserver.Stat(pid)
			if state == 'Z' {
				zombies++
			} else if comm == "sleep" {
				sleeps++
			}
		}
		if sleeps > 1 {
			sawOrphans = true
		}
		if sawOrphans && sleeps == 1 && zombies == 0 {
			break // only the worker is left
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d sleeping children, %d zombies (orphans seen: %v)", sleeps, zombies, sawOrphans)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.stop(t)
}

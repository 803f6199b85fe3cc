//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// procInfo reads comm, state and ppid of a host pid.
func procInfo(pid int) (comm string, state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, 0, false
	}
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return "", 0, 0, false
	}
	f := strings.Fields(string(b[close+1:]))
	if len(f) < 2 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return string(b[open+1 : close]), f[0][0], ppid, true
}

// childrenOf lists host pids whose parent is ppid.
func childrenOf(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, _, p, ok := procInfo(pid); ok && p == ppid {
			out = append(out, pid)
		}
	}
	return out
}

func TestSupervisorAsPID1_ReapsOrphanedZombies(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a new pid namespace")
	}
	if err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "true").Run(); err != nil {
		t.Skipf("unshare --pid --fork --mount-proc does not work here: %v", err)
	}
	app := filepath.Join(t.TempDir(), "app")
	// Each subshell backgrounds a sleep and exits at once: the sleeps are
	// orphans, handed to the nearest subreaper, PID 1 of the namespace.
	testserver.WriteExecutable(t, app, []byte("#!/bin/sh\n(sleep 0.4 &)\n(sleep 0.5 &)\n(sleep 0.6 &)\nsystemd-notify --ready\nexec sleep 600\n"))
	s := launchSupWrapped(t, []string{"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"}, []string{"-q"}, app)
	s.waitState(func(st control.Status) bool { return st.State == "serving" && st.PID == 1 }, 15*time.Second, "serving as pid 1")

	supHost := 0
	deadline := time.Now().Add(10 * time.Second)
	for supHost == 0 {
		if kids := childrenOf(s.cmd.Process.Pid); len(kids) == 1 {
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
		for _, pid := range childrenOf(supHost) {
			comm, state, _, _ := procInfo(pid)
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

//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// tagged lists the processes whose environment holds APP_TAG=tag: every
// process a test's program started, however it daemonised.
func tagged(tag string) []int {
	return testserver.Processes(func(pid int) bool {
		if env, err := testserver.Environ(pid); err != nil || env["APP_TAG"] != tag {
			return false
		}
		_, state, _, _, ok := testserver.Stat(pid)
		return !ok || state != 'Z' // a zombie has exited, waiting for its reaper
	})
}

// killTagged is a test's cleanup: by pid, never by name.
func killTagged(t *testing.T, tag string) {
	t.Cleanup(func() {
		for _, pid := range tagged(tag) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// assertNoneTagged waits a little for the kernel to finish what the
// supervisor killed, then fails if a process of the program is left.
func assertNoneTagged(t *testing.T, tag, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var left []int
	for {
		if left = tagged(tag); len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	for _, pid := range left {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Errorf("%s: pid %d of the program still runs: %q", when, pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
	}
}

func assertPortRefuses(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after the supervisor exited: a process of the program holds the socket", addr)
	}
}

func needProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs /proc")
	}
}

// A stop while a new generation is starting or in probation leaves no
// process of the program: not the new worker, not the old one, not the
// helpers either started in their process groups.
func TestStopDuringUpgrade_NoProcessOfTheProgramLeft(t *testing.T) {
	needProc(t)
	for _, stage := range []control.Stage{control.StageStarted, control.StageProbation} {
		t.Run(string(stage), func(t *testing.T) {
			tag := fmt.Sprintf("stop-%s-%d", stage, time.Now().UnixNano())
			killTagged(t, tag)
			// A helper in the worker's group, then the server; version 1
			// also takes its time before it serves.
			script := func(pause string) []byte {
				return fmt.Appendf(nil, "#!/bin/sh\nexport APP_TAG=%s\nsleep 600 &\nsleep %s\nexec %s -addr \"$1\" -drain-idle 200ms\n", tag, pause, bin.hello)
			}
			app := shellApp(t, string(script("0")))
			s := startSup(t, []string{"-q", "--probation", "30s", "--drain-timeout", "10s"}, app, "ADDR")
			testserver.WriteExecutable(t, app, script("2"))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			final, err := s.client().Upgrade(ctx, func(ev control.Event) {
				if ev.Stage == stage {
					s.term()
				}
			})
			if err != nil || final.Stage != control.StageFailed {
				t.Errorf("upgrade interrupted by a stop: %+v, %v; want failed (abandoned)", final, err)
			}
			s.exitCode(t, 30*time.Second, "supervisor still running 30s after TERM")
			assertNoneTagged(t, tag, "after a stop during "+string(stage))
			assertPortRefuses(t, s.addr)
		})
	}
}

// A worker that forks a daemon, names it with MAINPID= and exits: the
// daemon ends with its worker, the slot crash-loops, the supervisor gives
// up, and nothing is left holding the port.
func TestForkingWorkerWithMainPID_EndsWithItsWorker(t *testing.T) {
	needProc(t)
	tag := fmt.Sprintf("fork-%d", time.Now().UnixNano())
	killTagged(t, tag)
	// setsid: the daemon leaves the worker's process group, so only
	// MAINPID= says it is the worker's. It keeps fd 3, the listener.
	app := shellApp(t, fmt.Sprintf(
		"#!/bin/sh\nexport APP_TAG=%s\nsetsid sleep 600 &\nsystemd-notify --ready MAINPID=$!\nsleep 0.2\nexit 3\n", tag))
	s := launchSup(t, []string{"-q", "--crash-limit", "3"}, app)
	s.exitCode(t, 60*time.Second, "supervisor did not give up on the crash loop")
	if code := s.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d after a crash loop, want 1", code)
	}
	assertNoneTagged(t, tag, "after the crash loop")
	assertPortRefuses(t, s.addr)
}

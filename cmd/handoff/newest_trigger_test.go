//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// versionScript is a deploy of "version v" of the app: hello, tagged in its
// environment, after a pause that keeps the upgrade in its waiting-for-ready
// stage for a while.
func versionScript(v int) []byte {
	return fmt.Appendf(nil, "#!/bin/sh\nsleep 0.3\nAPP_VERSION=%d exec %s -addr \"$1\" -drain-idle 200ms\n", v, bin.hello)
}

// workerVersion reads APP_VERSION from the environment of pid.
func workerVersion(t *testing.T, pid int) string {
	t.Helper()
	env, err := testserver.Environ(pid)
	if err != nil {
		t.Fatalf("environ of worker %d: %v", pid, err)
	}
	if v, ok := env["APP_VERSION"]; ok {
		return v
	}
	return "?"
}

// A deploy replaced while an upgrade runs, at each of its stages, is never
// lost: the second `handoff upgrade` waits for the first, then runs the new
// file, and says it waited; the first reports its own upgrade.
func TestProgramReplacedMidUpgrade_NewestTriggerWins(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs /proc to tell versions apart")
	}
	for _, stage := range []control.Stage{control.StageStarting, control.StageStarted, control.StageProbation} {
		t.Run(string(stage), func(t *testing.T) {
			app := shellApp(t, string(versionScript(0)))
			s := startSup(t, []string{"-q", "--probation", "500ms", "--drain-timeout", "10s"}, app, "ADDR")
			l := startLoad(t, s.addr, 2)
			l.waitRequests(t, 20)

			testserver.WriteExecutable(t, app, versionScript(1))
			second := make(chan string, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			triggered := false
			first, err := s.client().Upgrade(ctx, func(ev control.Event) {
				if ev.Stage != stage || triggered {
					return
				}
				triggered = true
				// The next deploy lands, and its operator runs upgrade.
				testserver.WriteExecutable(t, app, versionScript(2))
				go func() {
					out, code := s.upgrade(t)
					second <- fmt.Sprintf("exit %d\n%s", code, out)
				}()
			})
			if err != nil || first.Stage != control.StageDone {
				t.Fatalf("first upgrade: %+v, %v", first, err)
			}
			if !triggered {
				t.Fatalf("the first upgrade had no %s stage", stage)
			}
			var out string
			select {
			case out = <-second:
			case <-ctx.Done():
				t.Fatal("the second upgrade never ended")
			}
			if !strings.HasPrefix(out, "exit 0\n") {
				t.Fatalf("second upgrade:\n%s", out)
			}
			if !strings.Contains(out, "coalesced") || !strings.Contains(out, "waited for the one to generation") {
				t.Errorf("second upgrade does not say it waited for another:\n%s", out)
			}
			pid := onlyServingPID(t, s)
			if v := workerVersion(t, pid); v != "2" {
				t.Errorf("after both upgrades pid %d runs version %s, want 2 (the newest deploy); second upgrade said:\n%s", pid, v, out)
			}
			l.waitRequests(t, 20)
			l.done(t)
			s.stopClean(t)
		})
	}
}

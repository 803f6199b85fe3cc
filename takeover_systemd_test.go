//go:build linux

package handoff_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/systemdtest"
	"github.com/handoff-go/handoff/internal/testserver"
)

// The blue/green pair of docs/TAKEOVER.md under a real systemd: app@blue
// serves; `systemctl start app@green` returns once green has taken over,
// and blue drains and ends inactive with result success (exit 0: no
// Restart=on-failure); then back to blue, and to green again. No request
// fails, no connection is refused.
func TestSystemd_TakeoverBlueGreen_NoFailedRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := systemdtest.Boot(t, ctx)
	for _, colour := range []string{"blue", "green"} {
		if err := os.Mkdir(filepath.Join(s.Dir, colour), 0o755); err != nil {
			t.Fatal(err)
		}
		testserver.Replace(t, filepath.Join(buildBinaries(t), "hello"), filepath.Join(s.Dir, colour, "hello"))
	}
	// What tmpfiles.d does on a real machine (d /run/app 0700).
	if out, err := s.Exec(ctx, "install", "-d", "-m", "0700", "/run/app"); err != nil {
		t.Fatalf("mkdir /run/app: %v\n%s", err, out)
	}
	s.Install("app@.service", fmt.Sprintf(`[Unit]
DefaultDependencies=no
[Service]
Type=notify
NotifyAccess=main
ExecStart=%s/%%i/hello -v -probation 1s -drain-idle 100ms -addr %s -takeover /run/app/takeover.sock
Restart=on-failure
StandardOutput=append:%s/app.log
StandardError=append:%s/app.log
`, s.Dir, unitAddr, s.Dir, s.Dir))
	s.Systemctl("start", "app@blue.service")
	s.LogOnFailure(t, "app@blue.service", "app.log")
	s.LogOnFailure(t, "app@green.service", "app.log")
	l := s.StartSteadyLoad(t, ctx, unitAddr, 50)
	from := "blue"
	for _, to := range []string{"green", "blue", "green"} {
		old := s.MainPID("app@" + from + ".service")
		start := time.Now()
		s.Systemctl("start", "app@"+to+".service")
		started := time.Since(start)
		pid := s.MainPID("app@" + to + ".service")
		waitUnitDone(t, s, "app@"+from+".service", 60*time.Second)
		if err := l.WaitOK(ctx, 50); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (pid %d) -> %s (pid %d): systemctl start returned after %v; %s inactive, result success, after %v",
			from, old, to, pid, started.Round(time.Millisecond), from, time.Since(start).Round(time.Millisecond))
		from = to
	}
	l.Check(t, "blue/green takeovers under systemd")
}

// waitUnitDone waits until unit is inactive with result success: it
// drained and exited 0, and systemd does not restart it.
func waitUnitDone(t *testing.T, s *systemdtest.System, unit string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	// Polls systemd's state: from outside there is no event to wait on.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.Show(unit, "ActiveState") != "inactive" || s.Show(unit, "Result") != "success" {
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %s, result %s after %v, want inactive and success", unit, s.Show(unit, "ActiveState"), s.Show(unit, "Result"), within)
		}
		<-tick.C
	}
}

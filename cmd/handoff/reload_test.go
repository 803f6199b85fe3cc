//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// workerFile is the file the worker's process runs (its /proc/PID/exe).
func workerFile(t *testing.T, pid int) os.FileInfo {
	t.Helper()
	fi, err := os.Stat("/proc/" + itoa(pid) + "/exe")
	if err != nil {
		t.Skipf("no /proc/PID/exe: %v", err)
	}
	return fi
}

// After a deploy replaced the file, reload starts the bytes that serve
// (held open) again, and upgrade starts the new file.
func TestReloadServesOldBytes_UpgradeTheNew(t *testing.T) {
	app := appCopy(t)
	s := startSup(t, fastFlags, app, "-addr", "ADDR", "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 4)
	l.waitRequests(t, 20)
	first := onlyServingPID(t, s)
	old := workerFile(t, first)

	deployed := deployNewBuild(t, app)

	out, code := handoffCmd(t, "reload", "--control", s.ctl)
	if code != 0 || !strings.Contains(out, "done") {
		t.Fatalf("reload: exit %d:\n%s", code, out)
	}
	reloaded := onlyServingPID(t, s)
	if reloaded == first {
		t.Fatalf("reload did not start a new worker")
	}
	if now := workerFile(t, reloaded); !os.SameFile(now, old) || os.SameFile(now, deployed) {
		t.Fatalf("reloaded worker %d does not run the bytes that served before the deploy", reloaded)
	}
	l.waitRequests(t, 20)

	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: exit %d:\n%s", code, out)
	}
	upgraded := onlyServingPID(t, s)
	if now := workerFile(t, upgraded); !os.SameFile(now, deployed) {
		t.Fatalf("upgraded worker %d does not run the deployed file", upgraded)
	}
	l.waitRequests(t, 20)
	l.done(t)
	s.stopClean(t)
}

// --hup reload gives SIGHUP nginx's meaning; USR2 still upgrades.
func TestHUPReloads_WithHupReload(t *testing.T) {
	app := appCopy(t)
	s := startSup(t, append([]string{"--hup", "reload"}, fastFlags...), app, "-addr", "ADDR", "-drain-idle", "200ms")
	first := onlyServingPID(t, s)
	old := workerFile(t, first)
	deployed := deployNewBuild(t, app)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	st := s.waitState(func(st control.Status) bool {
		p := servingPIDs(st)
		return len(p) == 1 && p[0] != first && st.State == "serving"
	}, 30*time.Second, "a new generation after HUP")
	if now := workerFile(t, servingPIDs(st)[0]); !os.SameFile(now, old) {
		t.Fatalf("HUP with --hup reload started other bytes")
	}
	second := servingPIDs(st)[0]
	if err := s.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	st = s.waitState(func(st control.Status) bool {
		p := servingPIDs(st)
		return len(p) == 1 && p[0] != second && st.State == "serving"
	}, 30*time.Second, "a new generation after USR2")
	if now := workerFile(t, servingPIDs(st)[0]); !os.SameFile(now, deployed) {
		t.Fatalf("USR2 did not start the deployed file")
	}
	s.stopClean(t)
}

// deployNewBuild puts a new build at app, as a deploy does (renamed over):
// hello's bytes plus one, so that it is another file with other bytes. It
// returns the new file's FileInfo.
func deployNewBuild(t *testing.T, app string) os.FileInfo {
	t.Helper()
	b, err := os.ReadFile(bin.hello)
	if err != nil {
		t.Fatal(err)
	}
	testserver.WriteExecutable(t, app, append(b, 0))
	deployed, err := os.Stat(app)
	if err != nil {
		t.Fatal(err)
	}
	return deployed
}

//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// selfV2 is the handoff command built as another version: what a deploy of
// a new supervisor puts on disk.
const selfV2 = "selfup-v2"

func needSelfUpgrade(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("handoff upgrade --self is Linux only")
	}
	needProc(t)
}

// handoffV2 builds (once) the handoff command with main.version=selfV2.
func handoffV2(t *testing.T) string {
	t.Helper()
	p, err := testserver.Binary("handoff-"+selfV2, ".", append(testserver.RaceFlags(), "-ldflags", "-X main.version="+selfV2)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startSupFrom is startSup for a supervisor run from exe, a copy of the
// handoff command the test may replace on disk as a deploy would. A shell
// execs it, so the supervisor keeps the pid the test started.
func startSupFrom(t *testing.T, exe string, flags []string, program ...string) *sup {
	t.Helper()
	s := launchSupWrapped(t, []string{"/bin/sh", "-c", `exec '` + exe + `' "$@"`}, flags, program...)
	s.foreignPIDs = false // same pid namespace: the worker pids are ours to clean up
	s.waitState(func(st control.Status) bool { return st.State == "serving" }, 15*time.Second, "first generation serving")
	return s
}

// selfCopy puts the test's own copy of the handoff command in a directory
// of its own and returns its path.
func selfCopy(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "handoff")
	testserver.Replace(t, bin.handoff, exe)
	return exe
}

// selfRig is a supervisor run from the test's own copy of the handoff
// command (exe), serving hello with one worker, and the new handoff build
// (v2) a deploy would put at exe.
type selfRig struct {
	*sup
	v2, exe     string
	pid, worker int
}

func newSelfRig(t *testing.T, flags ...string) *selfRig {
	t.Helper()
	needSelfUpgrade(t)
	if flags == nil {
		flags = fastFlags
	}
	r := &selfRig{v2: handoffV2(t), exe: selfCopy(t)}
	r.sup = startSupFrom(t, r.exe, flags, bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
	r.pid = r.cmd.Process.Pid
	r.worker = onlyServingPID(t, r.sup)
	return r
}

// upgradeSelf deploys v2 at exe and runs `handoff upgrade --self`.
func (r *selfRig) upgradeSelf(t *testing.T) (string, int) { return r.upgradeSelfTo(t, r.v2) }

// upgradeSelfTo deploys the handoff binary build at exe and runs
// `handoff upgrade --self`.
func (r *selfRig) upgradeSelfTo(t *testing.T, build string) (string, int) {
	testserver.Replace(t, build, r.exe)
	return handoffCmd(t, "upgrade", "--self", "--control", r.ctl)
}

// want200 waits (at most within) for the answer of a slowRequest and
// fails t unless it is a 200.
func want200(t *testing.T, answer <-chan string, within time.Duration, what string) {
	t.Helper()
	select {
	case got := <-answer:
		if !strings.Contains(got, " 200 ") {
			t.Fatalf("%s got %q, want 200", what, got)
		}
	case <-time.After(within):
		t.Fatalf("%s: no answer within %v", what, within)
	}
}

// genStateOf is the state of the generation worker pid belongs to, "" when
// the status does not list it.
func genStateOf(st control.Status, pid int) string {
	for _, g := range st.Generations {
		for _, w := range g.Workers {
			if w.PID == pid {
				return g.State
			}
		}
	}
	return ""
}

// statusAt fetches the status of the supervisor at the control socket ctl.
func statusAt(t *testing.T, ctx context.Context, ctl string) control.Status {
	t.Helper()
	st, err := control.NewClient(ctl).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func supervisorInfo(t *testing.T, st control.Status) control.SupervisorInfo {
	t.Helper()
	if st.Supervisor == nil {
		t.Fatalf("status has no supervisor info: %+v", st)
	}
	return *st.Supervisor
}

// The promise of `handoff upgrade --self`: under non-retrying load the
// supervisor becomes its new binary with the same pid; its worker is not
// told anything (same pid, and a 3 s request in flight at the re-exec is
// answered: a worker forked from a thread the execve ended would have got
// its parent-death drain signal); no request fails; and the control socket
// and the handover channel work on, so the next worker upgrade does too.
// Twice, back and forth: after the first re-exec the thread that forked the
// worker is the main thread, and the second must keep that one too.
func TestUpgradeSelf_UnderLoad_SamePIDNewBinaryWorkersKeepServing(t *testing.T) {
	s := newSelfRig(t)
	supPID, worker := s.pid, s.worker
	l := startLoad(t, s.addr, 4)
	l.waitRequests(t, 50)
	slow := slowRequest(t, s.addr, worker, 3000)

	for i, d := range []struct{ build, version string }{{s.v2, selfV2}, {bin.handoff, "dev"}} {
		out, code := s.upgradeSelfTo(t, d.build)
		if code != 0 || !strings.Contains(out, "re-executed in place") || !strings.Contains(out, "version "+d.version) {
			t.Fatalf("upgrade --self %d: exit %d:\n%s", i+1, code, out)
		}
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		info := supervisorInfo(t, st)
		if st.PID != supPID || info.Version != d.version || info.ReExecs != i+1 {
			t.Fatalf("after upgrade --self %d: pid %d (want %d), version %q (want %q), re-execs %d (want %d)", i+1, st.PID, supPID, info.Version, d.version, info.ReExecs, i+1)
		}
		if a, err := os.Stat("/proc/" + itoa(supPID) + "/exe"); err != nil || !os.SameFile(a, mustStat(t, s.exe)) {
			t.Fatalf("/proc/%d/exe is not the new %s (%v)", supPID, s.exe, err)
		}
		if got := servingPIDs(st); !slices.Equal(got, []int{worker}) {
			t.Fatalf("serving workers after upgrade --self %d: %v, want [%d] (the same process)", i+1, got, worker)
		}
		l.waitRequests(t, 20)
	}
	want200(t, slow, 20*time.Second, "the 3 s request in flight during upgrade --self")
	// A worker told to drain would stop accepting at once and be replaced
	// by a crash restart: every request since the re-exec must still be
	// answered by the same process, and it must still be there.
	l.waitRequests(t, 50)
	_, _, pids := l.result()
	for pid, n := range pids {
		if pid != worker {
			t.Errorf("%d requests answered by pid %d: worker %d stopped serving at the re-exec (its parent-death signal?)", n, pid, worker)
		}
	}
	if err := syscall.Kill(worker, 0); err != nil || genStateOf(s.waitState(func(control.Status) bool { return true }, time.Second, "status"), worker) != "serving" {
		t.Fatalf("worker %d gone or not serving once the slow request ended (%v): it was told to drain", worker, err)
	}

	// The control socket, the notify socket and the handover survived:
	// the next upgrade of the workers runs as ever.
	out, code := s.upgrade(t)
	if code != 0 {
		t.Fatalf("worker upgrade after upgrade --self: exit %d:\n%s", code, out)
	}
	if next := onlyServingPID(t, s.sup); next == worker {
		t.Fatalf("worker upgrade after upgrade --self: still pid %d", worker)
	}
	l.waitRequests(t, 20)
	l.finish()
	ok := l.assertNoFailures(t)
	s.stopClean(t)
	t.Logf("%d requests, 0 failed; supervisor pid %d re-executed twice (to %s and back); worker %d served through both", ok, supPID, selfV2, worker)
}

// A new binary that fails the pre-flight changes nothing: each refusal has
// its exit status, the old binary serves on (same version, no re-exec, same
// worker), and so does the load. Then SIGVTALRM, the signal for it, does
// the upgrade once the binary on disk is good.
func TestUpgradeSelf_RefusedNewBinary_OldSupervisorServesOn(t *testing.T) {
	s := newSelfRig(t)
	supPID, worker, exe, v2 := s.pid, s.worker, s.exe, s.v2
	l := startLoad(t, s.addr, 2)
	l.waitRequests(t, 20)

	for _, c := range []struct {
		name   string
		deploy func()
		code   int
		says   string
	}{
		{"missing", func() { os.Remove(exe) }, control.ExitMissing, "no such file"},
		{"not executable", func() { testserver.Copy(t, v2, exe); os.Chmod(exe, 0o644) }, control.ExitNotExecutable, "not executable"},
		{"other state version", func() {
			testserver.WriteExecutable(t, exe, []byte("#!/bin/sh\necho 99\n"))
		}, control.ExitStateVersion, "speaks supervisor state version 99"},
		{"not a handoff", func() {
			testserver.WriteExecutable(t, exe, []byte("#!/bin/sh\necho \"unknown command $1\" >&2\nexit 2\n"))
		}, control.ExitStateVersion, "exit status 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.deploy()
			out, code := handoffCmd(t, "upgrade", "--self", "--control", s.ctl)
			if code != c.code || !strings.Contains(out, c.says) || !strings.Contains(out, "serves on unchanged") {
				t.Fatalf("upgrade --self: exit %d (want %d), output (want %q):\n%s", code, c.code, c.says, out)
			}
			st, err := s.status()
			if err != nil {
				t.Fatal(err)
			}
			info := supervisorInfo(t, st)
			if st.PID != supPID || info.ReExecs != 0 || info.Version != "dev" || !slices.Equal(servingPIDs(st), []int{worker}) {
				t.Fatalf("after a refused upgrade --self: pid %d, %+v, workers %v; want pid %d, no re-exec, worker %d", st.PID, info, servingPIDs(st), supPID, worker)
			}
			l.waitRequests(t, 10)
		})
	}

	testserver.Replace(t, v2, exe)
	if err := syscall.Kill(supPID, syscall.SIGVTALRM); err != nil {
		t.Fatal(err)
	}
	st := s.waitState(func(st control.Status) bool {
		return st.Supervisor != nil && st.Supervisor.ReExecs == 1
	}, 30*time.Second, "the re-exec SIGVTALRM asked for")
	if st.PID != supPID || st.Supervisor.Version != selfV2 || !slices.Equal(servingPIDs(st), []int{worker}) {
		t.Fatalf("after SIGVTALRM: %+v", st)
	}
	l.waitRequests(t, 20)
	l.finish()
	l.assertNoFailures(t)
	s.stopClean(t)
}

// A generation that drains when the supervisor re-executes itself goes on
// draining under the new binary: its request in flight is answered, and
// when it exits the new binary reaps it (the same pid's child) and forgets
// the generation.
func TestUpgradeSelf_WhileAGenerationDrains_TheNewBinaryEndsTheDrain(t *testing.T) {
	s := newSelfRig(t)
	old := s.worker
	slow := slowRequest(t, s.addr, old, 8000) // longer than the self-upgrade of a race-built handoff takes
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: exit %d:\n%s", code, out)
	}
	if out, code := s.upgradeSelf(t); code != 0 {
		t.Fatalf("upgrade --self: exit %d:\n%s", code, out)
	}
	if st, _ := s.status(); genStateOf(st, old) != "draining" {
		t.Fatalf("after upgrade --self, worker %d is not shown draining: %+v", old, st)
	}
	// The counters carried over: the upgrade before the re-exec is counted.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m, err := s.client().Metrics(ctx); err != nil || !strings.Contains(m, `handoff_upgrades_total{kind="upgrade",result="done"} 1`) {
		t.Fatalf("metrics after upgrade --self (%v): the upgrade before it is not counted:\n%s", err, m)
	}
	want200(t, slow, 30*time.Second, "the request on the draining worker")
	s.waitState(func(st control.Status) bool { return genStateOf(st, old) == "" }, 15*time.Second, "the drained worker forgotten")
	if err := syscall.Kill(old, 0); err == nil {
		t.Fatalf("drained worker %d still exists (a zombie nobody reaped?)", old)
	}
	s.stopClean(t)
}

// While an upgrade of the workers runs (here, its probation) the supervisor
// does not re-execute itself: exit 1 with the reason, nothing changed. Once
// the upgrade has ended, the self-upgrade goes.
func TestUpgradeSelf_DuringAnUpgrade_RefusedUntilItEnds(t *testing.T) {
	s := newSelfRig(t, "-q", "--probation", "3s", "--drain-timeout", "10s")
	upgraded := make(chan string, 1)
	go func() {
		out, code := s.upgrade(t)
		upgraded <- fmt.Sprintf("exit %d:\n%s", code, out)
	}()
	s.waitState(func(st control.Status) bool {
		return st.State == "upgrading" && len(st.Generations) > 0 && st.Generations[0].State == "probation"
	}, 15*time.Second, "the upgrade in probation")
	out, code := s.upgradeSelf(t)
	if code != control.ExitFailed || !strings.Contains(out, "an upgrade (to generation 2) is running") || !strings.Contains(out, "serves on unchanged") {
		t.Fatalf("upgrade --self during an upgrade: exit %d, want 1 and the reason:\n%s", code, out)
	}
	if got := <-upgraded; !strings.HasPrefix(got, "exit 0") {
		t.Fatalf("the upgrade of the workers: %s", got)
	}
	if out, code := handoffCmd(t, "upgrade", "--self", "--control", s.ctl); code != 0 {
		t.Fatalf("upgrade --self once the upgrade ended: exit %d:\n%s", code, out)
	}
	s.stopClean(t)
}

func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

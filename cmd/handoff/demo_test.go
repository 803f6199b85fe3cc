//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/bench"
	"github.com/handoff-go/handoff/internal/demo"
	"github.com/handoff-go/handoff/internal/loadgen"
	"github.com/handoff-go/handoff/internal/testserver"
)

// runDemo runs `handoff demo -bin DIR ARGS` in this process with the
// binaries TestMain built once, and returns the output, the exit status and
// the JSON report.
func runDemo(t *testing.T, args ...string) (string, int, *bench.Result) {
	t.Helper()
	js := filepath.Join(t.TempDir(), "demo.json")
	var out testserver.SyncBuffer
	code := demoCmd(append([]string{"-bin", bin.dir, "-json", js, "-every", "500ms"}, args...), &out, &out)
	var res bench.Result
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatalf("exit %d, no report: %v\n%s", code, err, out.String())
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, b)
	}
	assertGone(t, res.Report.PIDs)
	return out.String(), code, &res
}

// assertGone checks that no process that served survived the demo.
func assertGone(t *testing.T, pids []loadgen.PIDReport) {
	t.Helper()
	for _, p := range pids {
		if demo.ProcessAlive(p.PID, bin.dir) {
			t.Errorf("pid %d still runs after the demo returned", p.PID)
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
}

func TestDemoSupervisor_TwoUpgrades_NoFailedRequest(t *testing.T) {
	out, code, res := runDemo(t, "-upgrades", "2")
	if code != exitOK || !res.Pass || res.Failures != 0 || res.Requests == 0 || len(res.Upgrades) != 2 || len(res.PIDs) != 3 {
		t.Fatalf("exit %d: want 0, no failure, 3 generations serving:\n%s", code, out)
	}
	for _, want := range []string{"upgrade  1/2  generation 2  pid ", "upgrade  2/2  generation 3  pid ", "p99.9", "demo: PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoSelf_TwoUpgrades_NoFailedRequest(t *testing.T) {
	out, code, res := runDemo(t, "-mode", "self", "-upgrades", "2")
	if code != exitOK || !res.Pass || res.Failures != 0 || len(res.PIDs) != 3 || len(res.Demo.TimeToReady) != 2 {
		t.Fatalf("exit %d: want 0, no failure, 3 generations serving:\n%s", code, out)
	}
}

// A naive restart usually fails requests; the demo must run, report and
// explain. Zero failures (a lucky run) is not a test failure.
func TestDemoNaive_ReportsTheRestartGap(t *testing.T) {
	out, code, res := runDemo(t, "-mode", "naive", "-upgrades", "2")
	if len(res.Upgrades) != 2 || len(res.PIDs) != 3 {
		t.Fatalf("exit %d: want 2 restarts and 3 processes serving:\n%s", code, out)
	}
	if res.Failures > 0 && (code != exitFail || !strings.Contains(out, "expected point of the comparison")) {
		t.Fatalf("exit %d with %d failures: want 1 and the explanation:\n%s", code, res.Failures, out)
	}
	t.Logf("naive restart: %d of %d requests failed", res.Failures, res.Requests)
}

func TestDemoBadFlags_ExitUsage(t *testing.T) {
	for _, args := range [][]string{{"-mode", "reboot"}, {"-upgrades", "-1"}, {"-every", "0s"}, {"extra"}} {
		var out testserver.SyncBuffer
		if code := demoCmd(args, &out, &out); code != exitUsage {
			t.Errorf("demo %q: exit %d, want %d:\n%s", args, code, exitUsage, out.String())
		}
	}
}

// Ctrl-C stops everything the demo started: the supervisor and its
// workers, before the demo exits.
func TestDemoInterrupted_StopsEveryProcess(t *testing.T) {
	cmd := exec.Command(bin.handoff, "demo", "-bin", bin.dir, "-upgrades", "1000", "-every", "200ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Everything it started, from the kernel's list of its children and
	// the pids it prints.
	var pids []int
	timeout := time.After(30 * time.Second)
	for upgraded := false; !upgraded; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("demo ended before its first upgrade")
			}
			if f := strings.Fields(l); len(f) > 5 && f[0] == "upgrade" && f[4] == "pid" {
				pid, _ := strconv.Atoi(f[5])
				pids = append(pids, pid)
				upgraded = true
			}
		case <-timeout:
			t.Fatal("no upgrade within 30s")
		}
	}
	pids = append(pids, testserver.Children(cmd.Process.Pid)...)
	if len(pids) < 2 {
		t.Fatalf("found only pids %v", pids)
	}
	go func() {
		for range lines {
		}
		exited <- cmd.Wait()
	}()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-exited:
		exited <- nil // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("demo still running 20s after SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after SIGINT, want 130", code)
	}
	for _, pid := range pids {
		if demo.ProcessAlive(pid, bin.dir) {
			t.Errorf("pid %d outlived the interrupted demo", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

//go:build linux

package handoff_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/testserver"
)

// envFakeSupervisor makes the test binary a stand-in for `handoff run`
// (fakeSupervisor): what matters here is only how a supervisor starts its
// worker (HANDOFF_SUPERVISOR_PID, its notify socket, SIGTERM as the
// parent-death signal) and how it dies.
const envFakeSupervisor = "HANDOFF_TEST_FAKE_SUPERVISOR"

// A supervisor killed with -9 while its worker answers a 3 s request
// (issue 11 item 3): the worker gets its drain signal as the parent-death
// signal, and the kernel sends it once more as each of the dying
// supervisor's threads exits. A repeated parent-death signal is not a
// second stop: the request completes, answered by the worker, which then
// exits. Three rounds, since the echo depends on how the threads die.
func TestSupervisorKilled_RepeatedDeathSignalIsNotASecondStop(t *testing.T) {
	hello := filepath.Join(buildBinaries(t), "hello")
	for round := 1; round <= 3; round++ {
		dir := t.TempDir()
		addr := testserver.FreeAddr(t)
		sup := exec.Command(os.Args[0], "-test.run=^$")
		sup.Env = append(os.Environ(), envFakeSupervisor+"=1", "FAKESUP_PROGRAM="+hello, "FAKESUP_ADDR="+addr,
			"FAKESUP_DIR="+dir, "FAKESUP_STDERR="+filepath.Join(dir, "worker.log"))
		out, err := sup.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		sup.Stderr = os.Stderr
		if err := sup.Start(); err != nil {
			t.Fatal(err)
		}
		var worker int
		t.Cleanup(func() {
			sup.Process.Kill()
			sup.Wait()
			if worker > 0 {
				syscall.Kill(worker, syscall.SIGKILL)
			}
		})
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("fake supervisor: %v", err)
		}
		if _, err := fmt.Sscanf(line, "ready %d", &worker); err != nil {
			t.Fatalf("fake supervisor said %q", line)
		}
		slow := slowRequest(addr, 3000)
		waitServing(t, addr, worker, slow)

		sup.Process.Kill()
		sup.Wait()
		select {
		case r := <-slow:
			if r.err != nil || r.pid != worker {
				b, _ := os.ReadFile(filepath.Join(dir, "worker.log"))
				t.Fatalf("round %d: the request in flight when the supervisor died: pid %d, err %v; want the worker's (%d) answer. Worker log:\n%s",
					round, r.pid, r.err, worker, grepLines(string(b), "signal", "drain", "stop"))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the request in flight was not answered", round)
		}
		waitExit(t, worker, 30*time.Second)
		b, _ := os.ReadFile(filepath.Join(dir, "worker.log"))
		t.Logf("round %d, the worker on the signals:\n%s", round, grepLines(string(b), "signal"))
	}
}

// fakeSupervisor runs the test binary as a supervisor stand-in: it starts
// FAKESUP_PROGRAM as a supervised worker with SIGTERM as its parent-death
// signal, waits for its READY=1, prints "ready <pid>", and waits to be
// killed. It keeps a few extra threads, as a real supervisor has, so that
// its death sends the parent-death signal more than once.
func fakeSupervisor() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "fake supervisor:", err)
		return 1
	}
	for i := 0; i < 4; i++ {
		go func() {
			runtime.LockOSThread()
			select {}
		}()
	}
	recv, err := sdnotify.Listen(filepath.Join(os.Getenv("FAKESUP_DIR"), "notify.sock"))
	if err != nil {
		return fail(err)
	}
	logf, err := os.Create(os.Getenv("FAKESUP_STDERR"))
	if err != nil {
		return fail(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envFakeSupervisor+"=") && !strings.HasPrefix(kv, "FAKESUP_") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(os.Getenv("FAKESUP_PROGRAM"), "-v", "-addr", os.Getenv("FAKESUP_ADDR"), "-drain-timeout", "20s")
	cmd.Env = append(env, "HANDOFF_SUPERVISOR_PID="+strconv.Itoa(os.Getpid()), "NOTIFY_SOCKET="+recv.Path())
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	for {
		d, err := recv.Receive()
		if err != nil {
			return fail(err)
		}
		if v, _ := d.Msg.Get("READY"); v == "1" {
			break
		}
	}
	fmt.Printf("ready %d\n", cmd.Process.Pid)
	select {}
}

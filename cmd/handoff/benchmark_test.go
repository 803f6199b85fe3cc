//go:build unix

package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// pidAt returns the X-Pid of one fresh-connection request, or 0.
func pidAt(addr string) int {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	pid, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
	return pid
}

// waitNewPID spins until addr answers from a pid other than old.
func waitNewPID(b *testing.B, addr string, old int) int {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if pid := pidAt(addr); pid != 0 && pid != old {
			return pid
		}
	}
	b.Fatalf("no new pid at %s within 10s", addr)
	return 0
}

// BenchmarkSupervisorUpgrade measures POST /upgrade to the first request
// answered by the new generation (probation off, so the call returns at
// cutover; with probation the new generation serves just as fast, the call
// only returns later).
func BenchmarkSupervisorUpgrade(b *testing.B) {
	s := startSup(b, []string{"-q", "--probation", "0", "--max-draining", "64"}, bin.hello, "-addr", "ADDR", "-drain-idle", "50ms")
	old := pidAt(s.addr)
	var readyMs int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		final, err := s.client().Upgrade(context.Background(), nil)
		if err != nil || final.Stage != "done" {
			b.Fatalf("upgrade: %+v %v", final, err)
		}
		old = waitNewPID(b, s.addr, old)
	}
	b.StopTimer()
	st, _ := s.status()
	if st.LastUpgrade != nil {
		readyMs, _ = strconv.ParseInt(strings.TrimSuffix(st.LastUpgrade.Took, "ms"), 10, 64)
	}
	b.ReportMetric(float64(readyMs), "last_call_ms")
}

// BenchmarkHelloBareStart is the baseline: exec hello to its first answer.
func BenchmarkHelloBareStart(b *testing.B) {
	addr := testserver.FreeAddr(b)
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin.hello, "-addr", addr)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitNewPID(b, addr, 0)
		b.StopTimer()
		cmd.Process.Kill()
		cmd.Wait()
		b.StartTimer()
	}
}

// BenchmarkLibrarySelfUpgrade is the library's own upgrade (SIGHUP to
// hello) to the first answer from the new process, on the same machine.
func BenchmarkLibrarySelfUpgrade(b *testing.B) {
	addr := testserver.FreeAddr(b)
	pidFile := b.TempDir() + "/hello.pid"
	cmd := exec.Command(bin.hello, "-addr", addr, "-pidfile", pidFile, "-probation", "1ms", "-drain-idle", "50ms")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if pid, err := os.ReadFile(pidFile); err == nil {
			n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
			syscall.Kill(n, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	cur := waitNewPID(b, addr, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		old := cur
		syscall.Kill(old, syscall.SIGHUP)
		cur = waitNewPID(b, addr, old)
		b.StopTimer()
		// Let the old generation finish its drain, so that the library's
		// MaxDraining never refuses an upgrade of the next iteration.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if err := testserver.WaitExit(ctx, old); err != nil {
			b.Fatalf("old generation %d still draining after 60s: %v", old, err)
		}
		cancel()
		b.StartTimer()
	}
}

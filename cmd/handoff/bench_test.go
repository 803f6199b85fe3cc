//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// runBench runs `handoff bench ARGS` in this process and returns its output
// (stdout and stderr together) and exit status.
func runBench(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out testserver.SyncBuffer
	code := benchCmd(append([]string{"-q"}, args...), &out, &out)
	return out.String(), code
}

// serveHTTP serves h on a kernel-chosen loopback port for the test.
func serveHTTP(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// readBenchJSON loads the JSON report the command wrote.
func readBenchJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, b)
	}
	return m
}

// outcome reads one outcome count from a JSON report.
func outcome(m map[string]any, name string) float64 {
	return m["outcomes"].(map[string]any)[name].(float64)
}

func TestBench_ServerThatAnswers500_CountedAsBadStatus(t *testing.T) {
	url := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", "4242")
		http.Error(w, "broken on purpose", http.StatusInternalServerError)
	})
	js := filepath.Join(t.TempDir(), "r.json")
	out, code := runBench(t, "--url", url, "--upgrades", "0", "--duration", "200ms", "--json", js)
	m := readBenchJSON(t, js)
	if code != exitFail || outcome(m, "bad_status") == 0 || outcome(m, "bad_status") != m["failures"].(float64) || m["pass"] != false {
		t.Fatalf("exit %d, want 1 with every request a bad_status; output:\n%s", code, out)
	}
	if !strings.Contains(out, "bad_status") || !strings.Contains(out, "bench: FAIL") {
		t.Fatalf("output does not name the class and the verdict:\n%s", out)
	}
}

func TestBench_NobodyListening_CountedAsRefused(t *testing.T) {
	addr := testserver.FreeAddr(t) // free, and closed again
	js := filepath.Join(t.TempDir(), "r.json")
	out, code := runBench(t, "--url", "http://"+addr+"/", "--upgrades", "0", "--duration", "200ms", "--json", js)
	m := readBenchJSON(t, js)
	if code != exitFail || outcome(m, "refused") == 0 || outcome(m, "refused") != m["failures"].(float64) {
		t.Fatalf("exit %d, want 1 with every request refused; output:\n%s", code, out)
	}
}

// A server that reads each request and then resets the connection
// (SO_LINGER 0) instead of answering.
func TestBench_ServerThatResets_CountedAsReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					c.(*net.TCPConn).SetLinger(0)
				}
			}()
		}
	}()
	js := filepath.Join(t.TempDir(), "r.json")
	out, code := runBench(t, "--url", "http://"+ln.Addr().String()+"/", "--mode", "keepalive", "--upgrades", "0", "--duration", "200ms", "--json", js)
	m := readBenchJSON(t, js)
	if code != exitFail || outcome(m, "reset") == 0 || outcome(m, "ok") != 0 {
		t.Fatalf("exit %d, want 1 with resets counted; output:\n%s", code, out)
	}
}

// The upgrade command runs, but the server's pid never changes: the run must
// not pass as a survived upgrade.
func TestBench_PIDNeverChanges_NoNewGeneration(t *testing.T) {
	url := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", "4242")
		w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
	})
	js := filepath.Join(t.TempDir(), "r.json")
	args := []string{"--url", url, "--upgrade-cmd", "echo reloading in place", "--upgrades", "2", "--every", "100ms",
		"--warmup", "100ms", "--duration", "100ms", "--json", js}
	out, code := runBench(t, args...)
	m := readBenchJSON(t, js)
	nng, _ := m["no_new_generation"].([]any)
	if code != exitFail || len(nng) != 2 || m["failures"].(float64) != 0 {
		t.Fatalf("exit %d, no_new_generation %v; want 1 and [1 2]; output:\n%s", code, m["no_new_generation"], out)
	}
	for _, want := range []string{"NO NEW GENERATION after upgrade 1, 2", "upgrade 1| reloading in place", "bench: FAIL: no new generation"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Servers that reload in place can say so.
	if out, code := runBench(t, append(args, "--allow-same-pid")...); code != exitOK || !strings.Contains(out, "NO NEW GENERATION") {
		t.Fatalf("--allow-same-pid: exit %d, want 0 and the line still printed:\n%s", code, out)
	}
}

func TestBench_UpgradeCommandFails_IsAnUpgradeError(t *testing.T) {
	url := serveHTTP(t, func(w http.ResponseWriter, r *http.Request) {})
	out, code := runBench(t, "--url", url, "--upgrade-cmd", "echo cannot upgrade >&2; exit 3", "--upgrades", "3",
		"--every", "50ms", "--warmup", "50ms", "--duration", "50ms")
	for _, want := range []string{"upgrade 1| cannot upgrade", "upgrade  1/3 FAILED: upgrade command: exit status 3", "upgrade 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if code != exitFail || t.Failed() {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
}

func TestBench_BadFlags_ExitUsage(t *testing.T) {
	for _, args := range [][]string{
		{},                               // no --url
		{"--url", "http://127.0.0.1:1/"}, // upgrades without a command
		{"--url", "ftp://x/", "--upgrades", "0"},
		{"--url", "http://127.0.0.1:1/", "--upgrades", "0", "--mode", "sideways"},
	} {
		if out, code := runBench(t, args...); code != exitUsage {
			t.Errorf("bench %q: exit %d, want %d:\n%s", args, code, exitUsage, out)
		}
	}
}

// The whole path against a real server: examples/hello, upgraded by the
// library's SIGHUP, measured by bench with a shell command.
func TestBench_HelloSelfUpgrade_Passes(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "hello.pid")
	js := filepath.Join(dir, "r.json")
	// hello tells its NOTIFY_SOCKET when it serves: no polling needed.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hello := testserver.Start(t, ctx, bin.hello, "-pidfile", pidFile, "-probation", "100ms", "-drain-idle", "200ms")
	out, code := runBench(t, "--url", "http://"+hello.Addr+"/", "--upgrade-cmd", "kill -HUP $(cat "+pidFile+")",
		"--upgrades", "2", "--every", "500ms", "--warmup", "300ms", "--duration", "300ms",
		"--slow-path", "/slow?ms=50", "--slow-fraction", "0.05", "--json", js)
	m := readBenchJSON(t, js)
	for _, p := range m["pids"].([]any) {
		hello.PIDs.Add(int(p.(map[string]any)["pid"].(float64)))
	}
	if code != exitOK || m["failures"].(float64) != 0 || len(m["no_new_generation"].([]any)) != 0 || len(m["pids"].([]any)) != 3 {
		t.Fatalf("exit %d, want 0 with 3 generations serving; output:\n%s", code, out)
	}
}

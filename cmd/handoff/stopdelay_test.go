//go:build unix

package main

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// After SIGTERM with --stop-delay, the supervisor keeps serving new
// connections while /ready answers 503 (Kubernetes removes the endpoint
// meanwhile), then drains and exits.
func TestStopDelay_ServesNewConnectionsWhileReadinessFails(t *testing.T) {
	metricsAddr := "127.0.0.1:" + itoa(testserver.FreePort(t))
	s := startSup(t, append([]string{"--stop-delay", "2s", "--metrics", metricsAddr}, fastFlags...), bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
	ready := func() int {
		resp, err := http.Get("http://" + metricsAddr + "/ready")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != 200 {
		t.Fatalf("/ready before TERM: %d, want 200", code)
	}
	// A fresh connection per request: no keep-alive hides a closed listener.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	get := func() error {
		resp, err := client.Get("http://" + s.addr + "/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return &statusErr{resp.StatusCode}
		}
		return nil
	}
	term := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ready() != 503 {
		if time.Now().After(deadline) {
			t.Fatal("/ready never answered 503 after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	notReady := time.Since(term)
	// Served after readiness failed: at least some, and every one until
	// the first refusal.
	served, lastOK := 0, time.Duration(0)
	var firstErr error
	for time.Since(term) < 15*time.Second {
		if err := get(); err != nil {
			firstErr = err
			break
		}
		served++
		lastOK = time.Since(term)
		time.Sleep(20 * time.Millisecond) // request pacing, not synchronisation
	}
	if served == 0 {
		t.Fatalf("no new connection served after /ready said 503 (first error: %v)", firstErr)
	}
	s.exitCode(t, 30*time.Second, "supervisor still running 30s after SIGTERM with --stop-delay 2s")
	t.Logf("/ready 503 after %v; %d fresh connections served after that, the last %v after SIGTERM (--stop-delay 2s); then: %v",
		notReady.Round(time.Millisecond), served, lastOK.Round(time.Millisecond), firstErr)
	s.assertNoneLeft(t)
}

type statusErr struct{ code int }

func (e *statusErr) Error() string { return "status " + itoa(e.code) }

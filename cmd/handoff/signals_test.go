//go:build unix

package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func TestWINCHDrainsWorkers_ConnectionsWaitUntilHUP(t *testing.T) {
	s := startSup(t, fastFlags, bin.hello, "-addr", "ADDR", "-drain-idle", "100ms")
	s.cmd.Process.Signal(syscall.SIGWINCH)
	s.waitState(func(st control.Status) bool { return st.State == "idle" && len(st.Generations) == 0 }, 10*time.Second, "idle, no workers")
	// A request made now waits in the accept queue the supervisor keeps.
	got := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Post("http://"+s.addr+"/", "text/plain", strings.NewReader("queued"))
		if err != nil {
			got <- err.Error()
			return
		}
		resp.Body.Close()
		got <- resp.Status + " pid " + resp.Header.Get("X-Pid")
	}()
	select {
	case r := <-got:
		t.Fatalf("answered while no worker runs: %s", r)
	case <-time.After(200 * time.Millisecond):
	}
	s.hup()
	select {
	case r := <-got:
		if !strings.HasPrefix(r, "200 OK pid ") {
			t.Fatalf("queued request: %s", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued request not answered after HUP")
	}
	s.stopClean(t)
}

func TestUSR1IsForwardedToWorkers(t *testing.T) {
	py := python(t)
	s := startSup(t, fastFlags, py, example(t, "python/server.py"))
	s.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "SIGUSR1") {
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not report SIGUSR1:\n%s", s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop(t)
}

func TestSecondTERM_StopsAtOnce(t *testing.T) {
	app := shellApp(t, "#!/bin/sh\ntrap '' TERM\nsystemd-notify --ready\nexec sleep 600\n")
	s := startSup(t, []string{"-q", "--drain-timeout", "60s"}, app)
	worker := onlyServingPID(t, s)
	s.termTwice(t, 10*time.Second, "a second TERM did not stop the supervisor at once")
	if err := syscall.Kill(worker, 0); err == nil {
		t.Errorf("worker %d survived the second TERM", worker)
	}
}

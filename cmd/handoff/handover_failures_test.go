//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/loadgen"
	"github.com/handoff-go/handoff/internal/testserver"
	"github.com/handoff-go/handoff/internal/testserver/testload"
)

// The supervisor's half of the handover's failure paths (issue 10, audit
// (c) and (d)): an old worker hands its connections only to a successor
// whose channel lives, and a rollback worker is introduced to the old
// worker that still holds the state.

// (c) A failed upgrade, then a stop. The new worker connects to the old
// one's channel (it does so before it declares itself ready) and never
// becomes ready: here its READY=1 goes nowhere, so the supervisor kills it
// at --ready-timeout. The old worker used to keep that dead channel as its
// successor's, and at `handoff stop` sent its idle keep-alive connections
// into it: they were closed, and the clients' next requests failed. Now it
// drains them itself: every request on them is answered (the last one with
// "Connection: close").
//
// The clients are raw keep-alive connections that never reconnect (a
// reconnect after the stop would only meet the supervisor's closing
// listener, which is not what this tests).
func TestRun_FailedUpgradeThenStop_ConnectionsAnsweredNotSentToTheDead(t *testing.T) {
	app := appCopy(t)
	s := startSup(t, []string{"-v", "--probation", "100ms", "--ready-timeout", "2s", "--drain-timeout", "20s"}, app, "-addr", "ADDR", "-drain-idle", "3s", "-v")
	old := onlyServingPID(t, s)
	held := holdUntilClose(t, s.addr, 30, 200*time.Millisecond)
	held.waitAnswers(t, 60)

	// The next program connects its channel, then cannot tell anyone it
	// is ready.
	testserver.WriteExecutable(t, app, []byte("#!/bin/sh\nNOTIFY_SOCKET=/nonexistent/notify exec "+bin.hello+" \"$@\"\n"))
	out, code := s.upgrade(t)
	if code == 0 {
		t.Fatalf("the upgrade to a program that never reports ready succeeded:\n%s", out)
	}
	if got := onlyServingPID(t, s); got != old {
		t.Fatalf("after the failed upgrade pid %d serves, want %d", got, old)
	}
	if o := s.stderr.String(); !strings.Contains(o, "handover_from="+itoa(old)) || strings.Contains(o, "connections will drain instead") {
		t.Fatalf("the failed worker was not introduced, or did not connect its channel: the test did not test")
	}
	held.waitAnswers(t, 60)
	s.stop(t)
	closed, failed := held.wait(t)
	t.Logf("%d connections: %d closed cleanly after an answer, %d failed", len(held.conns), closed, len(failed))
	for _, f := range failed {
		t.Error(f)
	}
	s.assertNoneLeft(t)
}

// closeHolder is n raw keep-alive connections, each sending a POST every
// interval until an answer says "Connection: close" (a clean end) or a
// request fails (no answer: EOF, reset, timeout).
type closeHolder struct {
	conns   []net.Conn
	answers atomic.Int64
	done    chan string // "" for a clean close, else the failure
}

func holdUntilClose(t *testing.T, addr string, n int, interval time.Duration) *closeHolder {
	t.Helper()
	h := &closeHolder{done: make(chan string, n)}
	for i := range n {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		h.conns = append(h.conns, nc)
		go h.run(nc, time.Duration(i)*interval/time.Duration(n), interval)
	}
	return h
}

func (h *closeHolder) run(nc net.Conn, delay, interval time.Duration) {
	k := testserver.NewKeepAlive(nc)
	<-time.After(delay) // spreads the connections' requests over the interval
	for i := 1; ; i++ {
		nc.SetDeadline(time.Now().Add(15 * time.Second))
		a, err := k.Post("/")
		if err != nil {
			h.done <- fmt.Sprintf("%s: request %d: no answer: %v", nc.LocalAddr(), i, err)
			return
		}
		h.answers.Add(1)
		if a.Code != http.StatusOK {
			h.done <- fmt.Sprintf("%s: request %d: %s", nc.LocalAddr(), i, a.Status)
			return
		}
		if a.Close {
			h.done <- ""
			return
		}
		<-time.After(interval) // the client's own pace
	}
}

// waitAnswers waits until n more requests were answered.
func (h *closeHolder) waitAnswers(t *testing.T, n int64) {
	t.Helper()
	target := h.answers.Load() + n
	deadline := time.Now().Add(20 * time.Second)
	for h.answers.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("held connections stalled: %d answers, waiting for %d", h.answers.Load(), target)
		}
		time.Sleep(5 * time.Millisecond) // polling a counter, under a deadline
	}
}

// wait waits for every connection to end and sorts the ends.
func (h *closeHolder) wait(t *testing.T) (closed int, failed []string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for range h.conns {
		select {
		case f := <-h.done:
			if f == "" {
				closed++
			} else {
				failed = append(failed, f)
			}
		case <-timeout:
			t.Fatalf("held connections still open 30s after the stop")
		}
	}
	return closed, failed
}

// (d) A supervised rollback keeps the state blob. The old worker is drained
// at cutover, and lives on while a request of its own is in flight; the new
// worker dies in probation and the supervisor starts the old program again.
// That rollback worker used to start without the state (it was introduced
// to nobody: the slot's worker was dead); now it is introduced to the old
// worker, which still holds the state, and receives it intact.
func TestRun_RollbackWorkerReceivesTheStateFromTheDrainingOldWorker(t *testing.T) {
	const size = 1 << 20
	app := t.TempDir() + "/state"
	testserver.Replace(t, bin.state, app)
	s := startSup(t, []string{"-q", "--probation", "10s", "--drain-timeout", "30s", "--max-draining", "16"}, app, "-addr", "ADDR", "-size", itoa(size))
	a := onlyServingPID(t, s)

	// A request the old worker is reading, so its drain lasts.
	base := testserver.CountFDs(a)
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	io.WriteString(nc, "POST / HTTP/1.1\r\nHost: rollback\r\n")
	waitFDsAbove(t, a, base, 20*time.Second)

	upgraded := make(chan string, 1)
	go func() {
		out, code := handoffCmd(t, "upgrade", "--control", s.ctl)
		upgraded <- fmt.Sprintf("exit %d: %s", code, out)
	}()
	// The new worker is in probation, with the state: kill it.
	var b int
	s.waitState(func(st control.Status) bool {
		for _, g := range st.Generations {
			if g.State == "probation" {
				for _, w := range g.Workers {
					if w.State == "ready" && w.PID != a {
						b = w.PID
						return true
					}
				}
			}
		}
		return false
	}, 30*time.Second, "the new worker in probation")
	waitOutputCount(t, s, "state: received bytes="+itoa(size), 1, 20*time.Second)
	if err := syscall.Kill(b, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var out string
	select {
	case out = <-upgraded:
	case <-time.After(60 * time.Second):
		t.Fatal("handoff upgrade did not return")
	}
	if !strings.Contains(out, "rolled back") {
		t.Fatalf("upgrade: %s, want a rollback", out)
	}
	if err := syscall.Kill(a, 0); err != nil {
		t.Fatalf("the old worker %d did not outlive the rollback (its request is in flight): %v", a, err)
	}
	waitOutputCount(t, s, "state: received bytes="+itoa(size), 2, 20*time.Second)
	if strings.Count(s.stderr.String(), "state: none") > 1 { // the first generation's own
		t.Fatalf("a worker started without the state:\n%s", s.stderr.String())
	}

	t.Logf("old worker %d (draining, a request in flight), new worker %d killed in probation; %s", a, b, strings.TrimSpace(out))
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.HasPrefix(line, "state: ") {
			t.Log(line)
		}
	}
	// The old worker answers the request it was reading.
	io.WriteString(nc, "Content-Length: 0\r\n\r\n")
	resp, err := testserver.NewKeepAlive(nc).Receive()
	if err != nil {
		t.Fatalf("the old worker's request after the rollback: %v", err)
	}
	if resp.Code != 200 || resp.PID != a {
		t.Fatalf("the old worker's request: %s from pid %d, want 200 from %d", resp.Status, resp.PID, a)
	}
	s.stopClean(t)
}

// waitFDsAbove waits until pid has accepted a connection more than it
// had when called (its descriptor count rises).
func waitFDsAbove(t *testing.T, pid, base int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for testserver.CountFDs(pid) <= base {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d accepted no connection within %v", pid, d)
		}
		time.Sleep(5 * time.Millisecond) // polling /proc, under a deadline
	}
}

// waitOutputCount waits until the supervisor's output holds want n times.
func waitOutputCount(t *testing.T, s *sup, want string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for strings.Count(s.stderr.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q seen %d times within %v, want %d:\n%s", want, strings.Count(s.stderr.String(), want), d, n, s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the output, under a deadline
	}
}

// supLoad runs the load generator (non-retrying POSTs) against addr.
func supLoad(t testing.TB, addr string, cfg loadgen.Config) *testload.Load {
	t.Helper()
	cfg.URL = "http://" + addr + "/"
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	return testload.Start(t, cfg)
}

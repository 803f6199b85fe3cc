//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/proto"
)

// keptConn is one keep-alive connection of a raw HTTP/1.1 client that
// never retries and never reconnects: a close, a reset or a
// "Connection: close" is a failure, and the pid of every answer is kept,
// so the test sees which worker serves this very TCP connection.
type keptConn struct {
	local string // its local address: the same for its whole life

	mu  sync.Mutex
	pid int   // who answered last
	n   int   // requests answered
	err error // the first failure; the connection is dead after it
}

func (c *keptConn) last() (pid, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid, c.n, c.err
}

// hold sends a POST every interval on nc, the first after delay (which
// spreads many connections' requests over the interval), until stop.
func (c *keptConn) hold(nc net.Conn, delay, interval time.Duration, stop <-chan struct{}) {
	defer nc.Close()
	first := time.NewTimer(delay)
	defer first.Stop()
	select {
	case <-stop:
		return
	case <-first.C:
	}
	br := bufio.NewReader(nc)
	fail := func(err error) {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 1; ; i++ {
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(nc, "POST / HTTP/1.1\r\nHost: held\r\nContent-Length: 5\r\n\r\nhello"); err != nil {
			fail(fmt.Errorf("request %d: write: %w", i, err))
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			fail(fmt.Errorf("request %d: read response: %w", i, err))
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		pid, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
		c.mu.Lock()
		c.pid, c.n = pid, c.n+1
		c.mu.Unlock()
		if resp.StatusCode != http.StatusOK || resp.Close {
			fail(fmt.Errorf("request %d: pid %d answered %s, Connection: close=%v", i, pid, resp.Status, resp.Close))
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// waitAnnounced waits until the supervisor's debug log shows a worker
// announcing its handover socket in READY=1, and reports whether it did.
func waitAnnounced(s *sup, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(s.stderr.String(), proto.HandoverField+"=/") {
			return true
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	return false
}

// Under the supervisor, hello (which migrates keep-alive connections by
// default) hands its connections to the worker that replaces it: 200 held
// connections, each sending one POST a second with a client that never
// retries or reconnects, through 5 `handoff upgrade`s. No request fails,
// no connection closes, and after each upgrade every connection, on the
// same local port, is answered by the new worker's pid; the old worker
// then exits.
func TestHandoverUnderRun_HeldConnectionsMoveToEachNewWorker(t *testing.T) {
	const conns, upgrades = 200, 5
	// -v logs the READY=1 datagrams, where the announcement shows.
	s := startSup(t, append([]string{"-v"}, fastFlags...), bin.hello, "-addr", "ADDR")
	if !waitAnnounced(s, 5*time.Second) {
		t.Fatal("hello announced no " + proto.HandoverField + " in READY=1 under the supervisor")
	}
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	pids := servingPIDs(st)
	if len(pids) != 1 {
		t.Fatalf("want one serving worker: %+v", st)
	}
	pid := pids[0]

	stop := make(chan struct{})
	var wg sync.WaitGroup
	held := make([]*keptConn, conns)
	for i := range held {
		nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
		held[i] = &keptConn{local: nc.LocalAddr().String()}
		wg.Add(1)
		go func(c *keptConn, delay time.Duration) {
			defer wg.Done()
			c.hold(nc, delay, time.Second, stop)
		}(held[i], time.Duration(i)*time.Second/conns)
	}
	stopClients := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopClients()

	// waitAll waits until every connection was answered by pid, failing
	// the test on the first connection that broke.
	waitAll := func(pid int, what string) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := start.Add(15 * time.Second)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			behind := 0
			var example string
			for _, c := range held {
				p, n, err := c.last()
				if err != nil {
					t.Fatalf("%s: connection %s failed: %v", what, c.local, err)
				}
				if p != pid {
					behind++
					example = fmt.Sprintf("%s last answered by pid %d after %d requests", c.local, p, n)
				}
			}
			if behind == 0 {
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d connections not answered by pid %d within 15s (e.g. %s)", what, behind, conns, pid, example)
			}
			<-tick.C
		}
	}

	waitAll(pid, "before the first upgrade")
	for i := 1; i <= upgrades; i++ {
		what := fmt.Sprintf("upgrade %d", i)
		start := time.Now()
		out, code := s.upgrade(t)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", what, code, out)
		}
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		next := servingPIDs(st)
		if len(next) != 1 || next[0] == pid {
			t.Fatalf("%s: serving %v after pid %d: %+v", what, next, pid, st)
		}
		moved := waitAll(next[0], what)
		// The old worker has nothing left to drain: it exits.
		old := pid
		s.waitState(func(st control.Status) bool {
			for _, g := range st.Generations {
				for _, w := range g.Workers {
					if w.PID == old {
						return false
					}
				}
			}
			return true
		}, 30*time.Second, fmt.Sprintf("%s: old worker %d gone", what, old))
		t.Logf("%s: pid %d -> %d; all %d connections answered by the new pid %v after the upgrade returned (%v in all)",
			what, old, next[0], conns, moved.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		pid = next[0]
	}
	total := 0
	for _, c := range held {
		_, n, err := c.last()
		if err != nil {
			t.Fatalf("connection %s failed: %v", c.local, err)
		}
		total += n
	}
	stopClients()
	t.Logf("%d connections, %d requests, 0 failed, 0 closed, through %d upgrades", conns, total, upgrades)
	s.stop(t)
	s.assertNoneLeft(t)
}

package testserver

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// HeldConn is one keep-alive connection of a raw HTTP/1.1 client that
// never retries and never reconnects: a close, a reset or a
// "Connection: close" is a failure, and the pid of every answer (X-Pid) is
// kept, so a test sees which process serves this very TCP connection.
type HeldConn struct {
	Local string // its local address: the same for its whole life

	mu  sync.Mutex
	pid int   // who answered last
	n   int   // requests answered
	err error // the first failure; the connection is dead after it
}

// NewHeldConn returns the HeldConn of nc, not yet sending.
func NewHeldConn(nc net.Conn) *HeldConn { return &HeldConn{Local: nc.LocalAddr().String()} }

// Last returns the pid of the last answer, the answers so far and the
// failure that ended the connection, if any.
func (c *HeldConn) Last() (pid, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid, c.n, c.err
}

// Run sends a POST on nc every interval, the first after delay (which
// spreads many connections' requests over the interval), until stop or
// the first failure; it closes nc when it returns.
func (c *HeldConn) Run(nc net.Conn, delay, interval time.Duration, stop <-chan struct{}) {
	defer nc.Close()
	first := time.NewTimer(delay)
	defer first.Stop()
	select {
	case <-stop:
		if delay > 0 {
			return
		}
	case <-first.C:
	}
	k := NewKeepAlive(nc)
	fail := func(err error) {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 1; ; i++ {
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		a, err := k.Post("/")
		if err != nil {
			fail(fmt.Errorf("request %d: %w", i, err))
			return
		}
		c.mu.Lock()
		c.pid, c.n = a.PID, c.n+1
		c.mu.Unlock()
		if a.Code != http.StatusOK || a.Close {
			fail(fmt.Errorf("request %d: pid %d answered %s, Connection: close=%v", i, a.PID, a.Status, a.Close))
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// Held is a set of HeldConns to one server, each sending a POST every
// interval, their requests spread over it.
type Held struct {
	Conns []*HeldConn

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Hold dials n connections to addr and starts them; they stop at t's
// cleanup if not before (Stop).
func Hold(t testing.TB, addr string, n int, interval time.Duration) *Held {
	t.Helper()
	h := &Held{stop: make(chan struct{})}
	t.Cleanup(h.Stop)
	for i := range n {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := NewHeldConn(nc)
		h.Conns = append(h.Conns, c)
		h.wg.Add(1)
		go func(delay time.Duration) {
			defer h.wg.Done()
			c.Run(nc, delay, interval, h.stop)
		}(time.Duration(i) * interval / time.Duration(n))
	}
	return h
}

// Stop stops every connection and waits for them; it may be called again.
func (h *Held) Stop() {
	h.once.Do(func() {
		close(h.stop)
		h.wg.Wait()
	})
}

// WaitAll waits (at most within) until every connection was last answered
// by pid and returns how long that took. It fails the test on the first
// connection that broke, or at the deadline with one that lags.
func (h *Held) WaitAll(t testing.TB, pid int, what string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		behind := 0
		var example string
		for _, c := range h.Conns {
			p, n, err := c.Last()
			if err != nil {
				t.Fatalf("%s: connection %s failed: %v", what, c.Local, err)
			}
			if p != pid {
				behind++
				example = fmt.Sprintf("%s last answered by pid %d after %d requests", c.Local, p, n)
			}
		}
		if behind == 0 {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d connections not answered by pid %d within %v (e.g. %s)", what, behind, len(h.Conns), pid, within, example)
		}
		<-tick.C
	}
}

// Check fails the test on the first connection that broke, and returns
// the requests answered on all of them.
func (h *Held) Check(t testing.TB) int {
	t.Helper()
	total := 0
	for _, c := range h.Conns {
		_, n, err := c.Last()
		if err != nil {
			t.Fatalf("connection %s failed: %v", c.Local, err)
		}
		total += n
	}
	return total
}

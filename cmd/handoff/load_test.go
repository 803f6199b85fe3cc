//go:build unix

package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// load is a non-retrying HTTP/1.1 client pool: half the clients keep one
// connection alive, half open a new connection per request; every fifth
// request is /slow?ms=100 so some are in flight whenever an upgrade
// starts. Requests are POSTs, which no real client retries on its own.
// Every failure is recorded with enough context to see what happened.
type load struct {
	addr string
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	ok    int
	fails []string
	pids  map[int]int // pid -> requests answered
}

func startLoad(t testing.TB, addr string, clients int) *load {
	l := &load{addr: addr, stop: make(chan struct{}), pids: map[int]int{}}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go l.client(i, i%2 == 0)
	}
	t.Cleanup(func() { l.finish() })
	return l
}

func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitRequests waits until at least n more requests succeeded, so that a
// check after an event proves traffic flowed through it.
func (l *load) waitRequests(t testing.TB, n int) {
	t.Helper()
	l.mu.Lock()
	target := l.ok + n
	l.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		ok := l.ok
		l.mu.Unlock()
		if ok >= target {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("load: fewer than %d requests succeeded in 10s", n)
}

func (l *load) result() (ok int, fails []string, pids map[int]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := make(map[int]int, len(l.pids))
	for k, v := range l.pids {
		p[k] = v
	}
	return l.ok, append([]string(nil), l.fails...), p
}

func (l *load) client(id int, keepAlive bool) {
	defer l.wg.Done()
	var conn *testserver.KeepAlive
	reused := false
	defer func() {
		if conn != nil {
			conn.Conn.Close()
		}
	}()
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		path := "/"
		if n%5 == 4 {
			path = "/slow?ms=100"
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", l.addr, 5*time.Second)
			if err != nil {
				l.fail(fmt.Sprintf("client %d request %d %s: dial: %v", id, n, path, err))
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, reused = testserver.NewKeepAlive(c), false
		}
		pid, closeAfter, err := l.do(conn, id, n, path, keepAlive)
		if err != nil {
			l.fail(fmt.Sprintf("client %d request %d %s (keep-alive %v, reused conn %v): %v", id, n, path, keepAlive, reused, err))
			conn.Conn.Close()
			conn = nil
			continue
		}
		l.mu.Lock()
		l.ok++
		l.pids[pid]++
		l.mu.Unlock()
		reused = true
		if closeAfter || !keepAlive {
			conn.Conn.Close()
			conn = nil
		}
	}
}

func (l *load) do(conn *testserver.KeepAlive, id, n int, path string, keepAlive bool) (pid int, closeAfter bool, err error) {
	conn.Conn.SetDeadline(time.Now().Add(10 * time.Second))
	reqID := fmt.Sprintf("c%d-r%d", id, n)
	body := "ping " + reqID
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nX-Request-Id: %s\r\nContent-Length: %d\r\n", path, l.addr, reqID, len(body))
	if !keepAlive {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n" + body)
	if err := conn.Write(b.String()); err != nil {
		return 0, false, err
	}
	resp, err := conn.Receive()
	if err != nil {
		return 0, false, err
	}
	if resp.Code != 200 {
		return 0, false, fmt.Errorf("status %s", resp.Status)
	}
	if got := resp.Header.Get("X-Request-Id"); got != reqID {
		return 0, false, fmt.Errorf("answered X-Request-Id %q, sent %q", got, reqID)
	}
	pid, err = strconv.Atoi(resp.Header.Get("X-Pid"))
	if err != nil {
		return 0, false, fmt.Errorf("no X-Pid in the answer")
	}
	if first, _, _ := strings.Cut(string(resp.Body), "\n"); first != strconv.Itoa(pid) {
		return 0, false, fmt.Errorf("body's first line %q is not the X-Pid %d", first, pid)
	}
	return pid, resp.Close, nil
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	l.fails = append(l.fails, time.Now().Format("15:04:05.000")+" "+msg)
	l.mu.Unlock()
}

// done stops the clients (finish) and checks that no request failed
// (assertNoFailures); it returns the requests that succeeded.
func (l *load) done(t testing.TB) int {
	t.Helper()
	l.finish()
	return l.assertNoFailures(t)
}

// assertNoFailures fails the test with the first failures listed.
func (l *load) assertNoFailures(t testing.TB) int {
	t.Helper()
	ok, fails, _ := l.result()
	if len(fails) > 0 {
		if len(fails) > 20 {
			fails = fails[:20]
		}
		t.Errorf("%d of %d requests failed; first ones:\n%s", len(fails), ok+len(fails), strings.Join(fails, "\n"))
	}
	return ok
}

//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The bar for any protocol: clients connected before 10 upgrades
// are still connected after them, on the same TCP connection, and not a
// line is lost or answered twice (each line carries a sequence number; the
// server's per-connection counter, handed over as metadata, must match it).
// A client that has sent half a line when the upgrade happens gets that
// line answered by the new generation: the half travelled as buffered
// bytes.
func TestChat_ClientsStayConnectedThrough10Upgrades(t *testing.T) {
	const clients, upgrades = 40, 10
	srv := startChat(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	cls := make([]*client, clients)
	for i := range cls {
		cls[i] = dialClient(t, srv.Addr, fmt.Sprintf("c%d", i), 1+i%3)
		wg.Add(1)
		go func() { defer wg.Done(); cls[i].run(ctx) }()
	}
	partial := dialClient(t, srv.Addr, "partial", 1)

	pid := srv.PID
	pids := []int{pid}
	for u := 1; u <= upgrades; u++ {
		// Half a line on the wire before the upgrade, the rest after it.
		seq := u
		head := fmt.Sprintf("partial %d he", seq)
		if _, err := io.WriteString(partial.conn, head); err != nil {
			t.Fatalf("upgrade %d: partial write: %v", u, err)
		}
		next := srv.Upgrade(t, pid, 20*time.Second)
		if _, err := io.WriteString(partial.conn, "llo\n"); err != nil {
			t.Fatalf("upgrade %d: partial write: %v", u, err)
		}
		got, err := partial.readLine()
		want := fmt.Sprintf("partial %d hello | n=%d pid=%d", seq, seq, next)
		if err != nil || got != want {
			t.Fatalf("upgrade %d: the line begun before the upgrade: got %q (%v), want %q", u, got, err, want)
		}
		// Every client must have been answered by the new generation on
		// its old connection before the next upgrade.
		for _, c := range cls {
			c.waitPID(t, next, 20*time.Second)
		}
		pid = next
		pids = append(pids, pid)
		t.Logf("upgrade %d: pid %d serves every connection", u, pid)
	}
	cancel()
	wg.Wait()
	total := 0
	for _, c := range cls {
		if c.err != nil {
			t.Errorf("%s: %v", c.name, c.err)
		}
		total += c.seq
		for _, p := range pids {
			if !c.saw(p) {
				t.Errorf("%s (local port %s) was never answered by pid %d", c.name, c.local, p)
			}
		}
	}
	t.Logf("%d clients, %d lines answered in order across %d upgrades, no reconnect, generations %v", clients, total, upgrades, pids)
}

var listening = regexp.MustCompile(`chat: listening on (\S+) pid=(\d+)`)

func startChat(t *testing.T) *testserver.Proc {
	t.Helper()
	return testserver.StartProc(t, testserver.Build(t, "."), listening, nil, "-addr", "127.0.0.1:0", "-probation", "100ms", "-v")
}

func TestMain(m *testing.M) { testserver.Main(m) }

// client holds one connection and sends numbered lines on it, burst at a
// time, checking every answer.
type client struct {
	name  string
	conn  net.Conn
	br    *bufio.Reader
	local string
	burst int

	mu     sync.Mutex
	seq    int // lines answered correctly
	pids   map[int]bool
	err    error
	change chan struct{}
}

var reply = regexp.MustCompile(`^(\S+) (\d+) (.*) \| n=(\d+) pid=(\d+)$`)

func dialClient(t *testing.T, addr, name string, burst int) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{name: name, conn: c, br: bufio.NewReader(c), local: c.LocalAddr().String(), burst: burst,
		pids: make(map[int]bool), change: make(chan struct{})}
}

func (c *client) readLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.br.ReadString('\n')
	return strings.TrimSuffix(l, "\n"), err
}

func (c *client) run(ctx context.Context) {
	for ctx.Err() == nil {
		var b strings.Builder
		for i := 1; i <= c.burst; i++ {
			fmt.Fprintf(&b, "%s %d payload-%d\n", c.name, c.seq+i, c.seq+i)
		}
		if _, err := io.WriteString(c.conn, b.String()); err != nil {
			c.fail(fmt.Errorf("write after line %d: %w", c.seq, err))
			return
		}
		for i := 1; i <= c.burst; i++ {
			l, err := c.readLine()
			if err != nil {
				c.fail(fmt.Errorf("read the answer to line %d: %w", c.seq+1, err))
				return
			}
			m := reply.FindStringSubmatch(l)
			want := c.seq + 1
			if m == nil || m[1] != c.name || m[2] != strconv.Itoa(want) || m[3] != "payload-"+strconv.Itoa(want) || m[4] != strconv.Itoa(want) {
				c.fail(fmt.Errorf("answer %q, want line %d answered as n=%d", l, want, want))
				return
			}
			pid, _ := strconv.Atoi(m[5])
			c.mu.Lock()
			c.seq = want
			if !c.pids[pid] {
				c.pids[pid] = true
				close(c.change)
				c.change = make(chan struct{})
			}
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond): // pace: ~50 bursts a second per client
		}
	}
}

func (c *client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.change)
		c.change = make(chan struct{})
	}
}

func (c *client) saw(pid int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pids[pid]
}

func (c *client) waitPID(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ok, err, ch := c.pids[pid], c.err, c.change
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("%s (local port %s): %v", c.name, c.local, err)
		}
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s (local port %s) not answered by pid %d within %v", c.name, c.local, pid, d)
		}
	}
}

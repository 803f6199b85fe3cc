//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The bar for WebSockets: they cannot move to the new generation,
// so the old one closes each with status 1012 (Service Restart) when it
// drains, and a client that reconnects at once loses nothing. 20 clients
// send numbered text messages (some long enough for 16- and 64-bit frame
// lengths, with pings between them) through 5 upgrades. At each upgrade
// every client must get exactly one Close frame, with status 1012, from
// the draining pid and nothing after it; answer it; see the server close
// the TCP connection; reconnect to the new pid; send again what was not
// answered; and every message must be answered once, in order, by the pid
// of the connection it was sent on.
func TestWebSocket_Close1012AndReconnectThrough5Upgrades(t *testing.T) {
	const clients, upgrades = 20, 5
	srv := startServer(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	cls := make([]*wsClient, clients)
	for i := range cls {
		cls[i] = newClient(srv.Addr, fmt.Sprintf("c%d", i), 1+i%3)
		wg.Add(1)
		go func() { defer wg.Done(); cls[i].run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() }) // on a t.Fatal too

	pid := srv.PID
	pids := []int{pid}
	for _, c := range cls {
		c.waitFor(t, 10*time.Second, fmt.Sprintf("an answer from pid %d", pid), func() bool { return c.pids[pid] })
	}
	sighups := make([]time.Time, 0, upgrades)
	for u := 1; u <= upgrades; u++ {
		sighups = append(sighups, time.Now())
		next := srv.Upgrade(t, pid, 10*time.Second)
		if u == 1 {
			// The one generation that is our child: it exited, and cleanly.
			if err := srv.FirstExit(t, 5*time.Second); err != nil {
				t.Errorf("pid %d: %v", pid, err)
			}
		}
		var first, last time.Duration
		for i, c := range cls {
			c.waitFor(t, 10*time.Second, fmt.Sprintf("close 1012 #%d and an answer from pid %d", u, next), func() bool {
				return len(c.closes) >= u && c.pids[next]
			})
			c.mu.Lock()
			d := c.closes[u-1].at.Sub(sighups[u-1])
			c.mu.Unlock()
			if i == 0 || d < first {
				first = d
			}
			last = max(last, d)
		}
		t.Logf("upgrade %d: pid %d -> %d; %d clients closed with 1012 %v - %v after SIGHUP, all answered by %d",
			u, pid, next, clients, first.Round(time.Millisecond), last.Round(time.Millisecond), next)
		pid = next
		pids = append(pids, pid)
	}
	cancel()
	wg.Wait()

	var messages, reconnects, pings, failed int
	var toClose, toAnswer, closeHandshake time.Duration
	for _, c := range cls {
		if c.err != nil {
			t.Errorf("%s: %v", c.name, c.err)
			failed++
			continue
		}
		// Exactly one 1012 per upgrade, each from the generation that drained.
		var closers []int
		for u, e := range c.closes {
			closers = append(closers, e.pid)
			if u < len(sighups) {
				toClose = max(toClose, e.at.Sub(sighups[u]))
			}
		}
		if !slices.Equal(closers, pids[:upgrades]) {
			t.Errorf("%s: closed with 1012 by pids %v, want one close by each of %v", c.name, closers, pids[:upgrades])
		}
		for _, p := range pids {
			if !c.pids[p] {
				t.Errorf("%s: never answered by pid %d", c.name, p)
			}
		}
		if c.goodbye != 1000 {
			t.Errorf("%s: the final Close 1000 was answered with status %d", c.name, c.goodbye)
		}
		messages += c.answered
		reconnects += c.reconnects
		pings += c.pongs
		toAnswer = max(toAnswer, c.toAnswer)
		closeHandshake = max(closeHandshake, c.closeHandshake)
	}
	if n := srv.checkLog(t); n != clients*upgrades {
		t.Errorf("the servers saw %d answers to their 1012 Close frames, want %d", n, clients*upgrades)
	}
	t.Logf("%d clients, %d upgrades (generations %v): %d messages answered in order, %d pings answered, %d reconnects, %d clients failed",
		clients, upgrades, pids, messages, pings, reconnects, failed)
	t.Logf("SIGHUP -> 1012 at a client: max %v; 1012 -> first answer from the new pid: max %v; server's Close -> its FIN (the client's Close between): max %v",
		toClose.Round(time.Millisecond), toAnswer.Round(time.Millisecond), closeHandshake.Round(time.Millisecond))
}

// wsServer is the example's process tree: the first generation, started
// here, and the ones it starts, found by their "listening" lines.
type wsServer struct{ *testserver.Proc }

var listening = regexp.MustCompile(`websocket: listening on (\S+) pid=(\d+)`)

func startServer(t *testing.T) *wsServer {
	t.Helper()
	exe := testserver.Build(t, ".", testserver.RaceFlags()...)
	// The race runtime sleeps 1 s at exit unless told not to: the old
	// generation would linger that long after its drain.
	return &wsServer{testserver.StartProc(t, exe, listening, []string{"GORACE=atexit_sleep_ms=0"}, "-addr", "127.0.0.1:0", "-probation", "100ms", "-v")}
}

func TestMain(m *testing.M) { testserver.Main(m) }

var sessionsClosed = regexp.MustCompile(`sessions closed" .*answered_1012=(\d+) no_answer=(\d+) gone=(\d+) cut=(\d+)`)

// checkLog checks the servers' logs: no data race (with -race), panic,
// warning or error, no generation that failed ("websocket: <error>"); and at each drain every session was closed by the
// client's answer to the 1012 Close frame, none by the timeout, a broken
// connection or the cut. It returns the 1012 Close frames answered, as
// the servers counted them.
func (s *wsServer) checkLog(t *testing.T) int {
	t.Helper()
	bad := regexp.MustCompile(`DATA RACE|panic:|level=(WARN|ERROR)`)
	answered := 0
	for _, l := range s.Log.Lines() {
		if bad.MatchString(l) || strings.HasPrefix(l, "websocket: ") && !listening.MatchString(l) {
			t.Errorf("server log: %s", l)
		}
		if m := sessionsClosed.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			answered += n
			if m[2] != "0" || m[3] != "0" || m[4] != "0" {
				t.Errorf("server log: %s", l)
			}
		}
	}
	return answered
}

// A minimal WebSocket client, independent of the server's code: masked
// frames out, unmasked frames in.

const (
	wsText  = 0x1
	wsClose = 0x8
	wsPing  = 0x9
	wsPong  = 0xA
	// stallAfter: no frame for this long while answers are due is a failure.
	stallAfter = 10 * time.Second
)

// A serverFrame is a frame read from the server, or the error that ended
// the connection.
type serverFrame struct {
	op      byte
	payload []byte
	at      time.Time
	err     error
}

// A wsConn is one connection of a client, with the goroutine that reads it.
type wsConn struct {
	conn   net.Conn
	pid    int // X-Pid of the 101 answer
	frames chan serverFrame
}

type closeEvent struct {
	pid int
	at  time.Time
}

// wsClient sends numbered text messages, burst at a time, and checks that
// each is answered once, in order. On a Close frame with status 1012 it
// answers it, reconnects at once, and sends again what was not answered.
type wsClient struct {
	name, addr string
	burst      int
	quit       chan struct{} // closed when run returns: readers stop sending
	readers    sync.WaitGroup

	// Owned by run.
	sent     int
	pings    []string // sent, not yet answered
	closedAt time.Time

	mu             sync.Mutex
	answered       int
	pongs          int
	pids           map[int]bool // pids that answered a message
	closes         []closeEvent // 1012s, in order
	reconnects     int
	toAnswer       time.Duration // max from a 1012 to the first answer on the new connection
	closeHandshake time.Duration // max from a 1012 to the server's FIN
	goodbye        int           // status of the server's answer to the final Close
	err            error
	change         chan struct{}
}

func newClient(addr, name string, burst int) *wsClient {
	return &wsClient{name: name, addr: addr, burst: burst, quit: make(chan struct{}),
		pids: make(map[int]bool), change: make(chan struct{})}
}

// message is the text of message n; some are long enough for 16-bit and
// 64-bit frame lengths.
func (c *wsClient) message(n int) string {
	m := c.name + " " + strconv.Itoa(n)
	switch {
	case n%97 == 0:
		m += " " + strings.Repeat("x", 70_000)
	case n%13 == 0:
		m += " " + strings.Repeat("y", 300)
	}
	return m
}

func (c *wsClient) run(ctx context.Context) {
	var wc *wsConn
	defer func() {
		if wc != nil {
			wc.conn.Close()
		}
		close(c.quit)
		c.readers.Wait()
	}()
	wc, err := c.connect()
	if err != nil {
		c.fail(fmt.Errorf("connect: %w", err))
		return
	}
	pace := time.NewTimer(0)
	stall := time.NewTimer(stallAfter)
	defer pace.Stop()
	defer stall.Stop()
	bursts := 0
	for {
		// Between bursts, when everything sent is answered: the next
		// burst, or the end.
		var done <-chan struct{}
		var tick, stalled <-chan time.Time
		if c.idle() {
			done, tick = ctx.Done(), pace.C
		} else {
			stalled = stall.C
		}
		select {
		case <-done:
			if !c.closeNormally(wc) {
				return // the deferred Close ends the reader
			}
			wc = nil // the reader waits for the server's FIN
			return
		case <-tick:
			bursts++
			if bursts%5 == 0 {
				p := fmt.Sprintf("ping %s %d", c.name, bursts)
				if err := writeClientFrame(wc.conn, wsPing, []byte(p)); err != nil {
					c.fail(fmt.Errorf("write a ping to pid %d: %w", wc.pid, err))
					return
				}
				c.pings = append(c.pings, p)
			}
			if err := c.send(wc, c.sent+c.burst); err != nil {
				c.fail(err)
				return
			}
			stall.Reset(stallAfter)
		case <-stalled:
			c.fail(fmt.Errorf("no frame from pid %d for %v with messages %d - %d unanswered", wc.pid, stallAfter, c.answered+1, c.sent))
			return
		case f := <-wc.frames:
			stall.Reset(stallAfter)
			if f.err != nil {
				c.fail(fmt.Errorf("connection to pid %d ended without a 1012 Close frame, %d of %d messages answered: %w", wc.pid, c.answered, c.sent, f.err))
				return
			}
			switch f.op {
			case wsText:
				if err := c.checkAnswer(wc, f); err != nil {
					c.fail(err)
					return
				}
			case wsPong:
				if len(c.pings) == 0 || string(f.payload) != c.pings[0] {
					c.fail(fmt.Errorf("pong %q from pid %d, want %q", f.payload, wc.pid, c.pings))
					return
				}
				c.pings = c.pings[1:]
				c.mu.Lock()
				c.pongs++
				c.mu.Unlock()
			case wsClose:
				next, err := c.restart(wc, f)
				if err != nil {
					c.fail(err)
					return
				}
				wc = next
				if c.idle() {
					pace.Reset(0) // nothing to send again: the next burst now
					continue
				}
			default:
				c.fail(fmt.Errorf("unexpected opcode %#x from pid %d", f.op, wc.pid))
				return
			}
			if c.idle() {
				pace.Reset(20 * time.Millisecond) // ~50 bursts a second
			}
		}
	}
}

// idle reports whether everything sent was answered.
func (c *wsClient) idle() bool { return c.sent == c.answered && len(c.pings) == 0 }

// send sends messages c.sent+1 to upTo.
func (c *wsClient) send(wc *wsConn, upTo int) error {
	for c.sent < upTo {
		if err := writeClientFrame(wc.conn, wsText, []byte(c.message(c.sent+1))); err != nil {
			return fmt.Errorf("write message %d to pid %d: %w", c.sent+1, wc.pid, err)
		}
		c.sent++
	}
	return nil
}

// checkAnswer checks that f answers the next unanswered message, from the
// pid the connection was opened with.
func (c *wsClient) checkAnswer(wc *wsConn, f serverFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.answered + 1
	if n > c.sent {
		return fmt.Errorf("answer %.40q from pid %d, with nothing unanswered (message %d was answered)", f.payload, wc.pid, c.answered)
	}
	if want := strconv.Itoa(wc.pid) + " " + c.message(n); string(f.payload) != want {
		return fmt.Errorf("answer %.60q, want %.60q (message %d on a connection to pid %d)", f.payload, want, n, wc.pid)
	}
	c.answered = n
	if !c.closedAt.IsZero() {
		c.toAnswer = max(c.toAnswer, f.at.Sub(c.closedAt))
		c.closedAt = time.Time{}
	}
	if !c.pids[wc.pid] {
		c.pids[wc.pid] = true
		c.notify()
	}
	return nil
}

// restart handles a Close frame from the server: it must carry status
// 1012; it is answered with a Close frame; the client reconnects at once
// and sends again what was not answered.
func (c *wsClient) restart(wc *wsConn, f serverFrame) (*wsConn, error) {
	if len(f.payload) < 2 {
		return nil, fmt.Errorf("Close frame without a status from pid %d", wc.pid)
	}
	status := binary.BigEndian.Uint16(f.payload)
	if status != 1012 {
		return nil, fmt.Errorf("Close frame from pid %d with status %d (%q), want 1012", wc.pid, status, f.payload[2:])
	}
	// Echo the status (RFC 6455 section 5.5.1). The server closes the
	// connection once it has read it; the reader checks that.
	if err := writeClientFrame(wc.conn, wsClose, f.payload[:2]); err != nil {
		return nil, fmt.Errorf("answer the Close frame of pid %d: %w", wc.pid, err)
	}
	c.mu.Lock()
	c.closes = append(c.closes, closeEvent{pid: wc.pid, at: f.at})
	c.notify()
	c.mu.Unlock()
	c.closedAt = f.at
	old := wc.pid

	next, err := c.connect()
	if err != nil {
		return nil, fmt.Errorf("reconnect after the 1012 of pid %d: %w", old, err)
	}
	if next.pid == old {
		next.conn.Close()
		return nil, fmt.Errorf("reconnected to pid %d, which had just closed with 1012", old)
	}
	c.mu.Lock()
	c.reconnects++
	c.mu.Unlock()
	// What pid old did not answer (it may have read it, but it answers
	// nothing after its Close frame), and pings, which are not resent.
	unanswered := c.sent
	c.sent, c.pings = c.answered, nil
	if err := c.send(next, unanswered); err != nil {
		next.conn.Close()
		return nil, err
	}
	return next, nil
}

// closeNormally ends the client: a Close frame with status 1000, which
// the server must echo. It reports whether it did.
func (c *wsClient) closeNormally(wc *wsConn) bool {
	if err := writeClientFrame(wc.conn, wsClose, binary.BigEndian.AppendUint16(nil, 1000)); err != nil {
		c.fail(fmt.Errorf("write the final Close to pid %d: %w", wc.pid, err))
		return false
	}
	select {
	case f := <-wc.frames:
		switch {
		case f.err != nil:
			c.fail(fmt.Errorf("no answer to the final Close from pid %d: %w", wc.pid, f.err))
		case f.op != wsClose || len(f.payload) < 2:
			c.fail(fmt.Errorf("answer to the final Close from pid %d: opcode %#x, payload %q", wc.pid, f.op, f.payload))
		default:
			c.mu.Lock()
			c.goodbye = int(binary.BigEndian.Uint16(f.payload))
			c.mu.Unlock()
			return true
		}
	case <-time.After(5 * time.Second):
		c.fail(fmt.Errorf("no answer to the final Close from pid %d within 5s", wc.pid))
	}
	return false
}

// connect opens a WebSocket and starts its reader.
func (c *wsClient) connect() (*wsConn, error) {
	conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	var raw [16]byte
	for i := range raw {
		raw[i] = byte(rand.Uint32())
	}
	key := base64.StdEncoding.EncodeToString(raw[:])
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET /ws HTTP/1.1\r\nHost: " + c.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	pid, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
		!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) || pid <= 0 {
		conn.Close()
		return nil, fmt.Errorf("handshake: answer %s %v", resp.Status, resp.Header)
	}
	conn.SetDeadline(time.Time{})
	wc := &wsConn{conn: conn, pid: pid, frames: make(chan serverFrame, 16)}
	c.readers.Add(1)
	go c.read(wc, br)
	return wc, nil
}

// read passes the server's frames to run until a Close frame or an error.
// After a Close frame nothing more may come: the server closes the TCP
// connection once our Close frame reaches it.
func (c *wsClient) read(wc *wsConn, br *bufio.Reader) {
	defer c.readers.Done()
	defer wc.conn.Close()
	var closed time.Time
	for {
		f := readServerFrame(br)
		select {
		case wc.frames <- f:
		case <-c.quit:
			return
		}
		if f.err != nil {
			return
		}
		if f.op == wsClose {
			closed = f.at
			break
		}
	}
	wc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := br.Read(make([]byte, 1))
	switch {
	case n > 0:
		c.fail(fmt.Errorf("pid %d sent data after its Close frame", wc.pid))
	case errors.Is(err, io.EOF):
		c.mu.Lock()
		c.closeHandshake = max(c.closeHandshake, time.Since(closed))
		c.mu.Unlock()
	default:
		c.fail(fmt.Errorf("pid %d did not close the connection after the close handshake: %w", wc.pid, err))
	}
}

// readServerFrame reads one server frame: final (this server does not
// fragment), unmasked, no reserved bit.
func readServerFrame(r *bufio.Reader) serverFrame {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return serverFrame{err: err}
	}
	at := time.Now()
	if hdr[0]&0xf0 != 0x80 || hdr[1]&0x80 != 0 {
		return serverFrame{err: fmt.Errorf("bad frame header % x (want FIN, no reserved bit, unmasked)", hdr[:2])}
	}
	op, n := hdr[0]&0x0f, uint64(hdr[1]&0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return serverFrame{err: err}
		}
		n = uint64(binary.BigEndian.Uint16(hdr[:2]))
	case 127:
		if _, err := io.ReadFull(r, hdr[:8]); err != nil {
			return serverFrame{err: err}
		}
		n = binary.BigEndian.Uint64(hdr[:8])
	}
	if n > 1<<20 {
		return serverFrame{err: fmt.Errorf("frame of %d bytes", n)}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return serverFrame{err: err}
	}
	return serverFrame{op: op, payload: p, at: at}
}

// writeClientFrame writes one final frame, masked with a random key.
func writeClientFrame(w io.Writer, op byte, payload []byte) error {
	var key [4]byte
	binary.BigEndian.PutUint32(key[:], rand.Uint32())
	_, err := w.Write(maskedFrame(true, op, key, payload))
	return err
}

// notify wakes waitFor; c.mu must be held.
func (c *wsClient) notify() {
	close(c.change)
	c.change = make(chan struct{})
}

func (c *wsClient) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		c.notify()
	}
}

// waitFor waits until cond, called with c.mu held, is true.
func (c *wsClient) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		c.mu.Lock()
		ok, err, ch := cond(), c.err, c.change
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: no %s within %v", c.name, what, d)
		}
	}
}

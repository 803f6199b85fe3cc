//go:build linux

package control

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveLimits runs a real control server with lim at a fresh path.
func serveLimits(t *testing.T, h Handler, lim Limits) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { ServeLimits(ln, h, lim); close(done) }()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return path
}

func dialRaw(t *testing.T, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed waits (bounded) for the server to close c: a read ends.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v", within)
	}
}

func TestServe_ClosesAConnectionThatSendsNothing(t *testing.T) {
	lim := DefaultLimits
	lim.HeaderTimeout = 200 * time.Millisecond
	path := serveLimits(t, fakeHandler{}, lim)
	start := time.Now()
	waitClosed(t, dialRaw(t, path), 10*time.Second)
	if d := time.Since(start); d < lim.HeaderTimeout {
		t.Fatalf("closed after %v, before the header timeout", d)
	}
	// A half-sent header is cut off the same way.
	c := dialRaw(t, path)
	io.WriteString(c, "GET /status HTTP/1.1\r\nHost: x\r\n")
	waitClosed(t, c, 10*time.Second)
}

func TestServe_TurnsAwayConnectionsOverTheCap(t *testing.T) {
	lim := DefaultLimits
	lim.MaxConns = 3
	path := serveLimits(t, fakeHandler{}, lim)
	var idle []net.Conn
	for range lim.MaxConns {
		idle = append(idle, dialRaw(t, path))
	}
	// Free one slot and take it with a connection that stays open. The
	// server frees a slot when its side of the connection is closed, a
	// moment after the client has seen its end: retry until it has.
	idle[0].Close()
	ctx := testCtx(t)
	var hold net.Conn
	for hold == nil {
		c := dialRaw(t, path)
		io.WriteString(c, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
		s, _ := bufio.NewReader(c).ReadString('\n')
		switch {
		case strings.Contains(s, " 200 "):
			hold = c
		case strings.Contains(s, " 503 ") && ctx.Err() == nil:
			c.Close()
		default:
			t.Fatalf("request for the freed slot: %q (%v)", s, ctx.Err())
		}
	}
	_, err := NewClient(path).Status(ctx)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "too many control connections") {
		t.Fatalf("status over the cap: %v, want 503 too many control connections", err)
	}
	hold.Close()
	for {
		if _, err := NewClient(path).Status(ctx); err == nil {
			return // a slot freed is a slot served
		} else if ctx.Err() != nil {
			t.Fatalf("status after a slot freed: %v", err)
		}
	}
}

// endless streams upgrade events until the request's context ends, and
// says when it did.
type endless struct {
	fakeHandler
	gone chan struct{}
	sent atomic.Int64
}

func (e *endless) Upgrade(ctx context.Context) <-chan Event {
	ch := make(chan Event)
	go func() {
		defer close(ch)
		defer close(e.gone)
		msg := strings.Repeat("x", 4096)
		for {
			select {
			case ch <- Event{Stage: StageInfo, Message: msg}:
				e.sent.Add(1)
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

func TestServe_CutsOffAClientThatStopsReading(t *testing.T) {
	lim := DefaultLimits
	lim.WriteTimeout = 200 * time.Millisecond
	h := &endless{gone: make(chan struct{})}
	path := serveLimits(t, h, lim)
	c := dialRaw(t, path)
	io.WriteString(c, "POST /upgrade HTTP/1.1\r\nHost: x\r\n\r\n")
	// Never read: the socket buffer fills, a write blocks past its deadline.
	select {
	case <-h.gone:
	case <-time.After(15 * time.Second):
		t.Fatalf("the server still writes to a client that stopped reading (%d events sent)", h.sent.Load())
	}
}

// A client that reads slowly but steadily is not cut off: the deadline is
// per write, not per stream.
func TestServe_LongUpgradeStreamIsNotCutOff(t *testing.T) {
	lim := DefaultLimits
	lim.WriteTimeout = 300 * time.Millisecond
	lim.HeaderTimeout = 300 * time.Millisecond
	events := make(chan Event)
	path := serveLimits(t, chanHandler(events), lim)
	got := make(chan error, 1)
	go func() {
		final, err := NewClient(path).Upgrade(testCtx(t), nil)
		if err == nil && final.Stage != StageDone {
			err = errors.New("final stage " + string(final.Stage))
		}
		got <- err
	}()
	// A stream three times longer than every timeout; each event waits
	// for the server to take the one before (the channel is unbuffered).
	deadline := time.Now().Add(3 * lim.WriteTimeout)
	for time.Now().Before(deadline) {
		events <- Event{Stage: StageInfo, Message: "still going"}
	}
	events <- Event{Stage: StageDone, Final: true}
	close(events)
	if err := <-got; err != nil {
		t.Fatalf("upgrade longer than the write and header timeouts: %v", err)
	}
}

type chanHandler chan Event

func (c chanHandler) Upgrade(context.Context) <-chan Event { return c }
func (chanHandler) Status() Status                         { return Status{} }
func (chanHandler) Stop() Event                            { return Event{} }

var _ http.Handler = handler(fakeHandler{}, 0)

// A 64 MiB request body (the audit's case): the server answers without
// reading it (no handler reads a body; net/http discards at most 256 KiB
// after the answer, then closes), so the sender stalls long before the end
// and the server's memory does not follow the body. The server keeps
// answering others.
func TestServe_A64MiBBodyIsNotRead(t *testing.T) {
	path := serveLimits(t, fakeHandler{}, DefaultLimits)
	c := dialRaw(t, path)
	const size = 64 << 20
	io.WriteString(c, "POST /stop HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n")
	var written atomic.Int64
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 64<<10)
		for written.Load() < size {
			n, err := c.Write(buf)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a request with a 64 MiB body: %v", err)
	}
	resp.Body.Close()
	<-sent // the server closed the connection, or the write deadline passed
	if n := written.Load(); n >= size {
		t.Fatalf("the server read the whole 64 MiB body")
	} else {
		t.Logf("answered %s; the sender got %d KiB of 64 MiB out before the server stopped reading", resp.Status, n>>10)
	}
	// Others are still served.
	c2 := dialRaw(t, path)
	io.WriteString(c2, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
	c2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c2), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status after the big body: %v %v", resp, err)
	}
}

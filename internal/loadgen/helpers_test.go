package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

// startHTTP serves h on 127.0.0.1 with net/http and returns its URL.
func startHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// startRaw accepts connections on 127.0.0.1 and runs serve on each in a
// goroutine of its own; cleanup closes the listener and every connection and
// waits for all of them.
func startRaw(t testing.TB, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				c.SetDeadline(time.Now().Add(testTimeout))
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String()
}

// readRequest reads one whole request, body included (so that a close that
// follows is a FIN, not a reset for unread data).
func readRequest(br *bufio.Reader) (*http.Request, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return req, err
}

// newTestGen builds a generator for driving clients directly.
func newTestGen(t *testing.T, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.t0 = time.Now()
	t.Cleanup(func() {
		for _, cl := range g.busy {
			cl.drop()
		}
		for _, cl := range g.hold {
			cl.drop()
		}
	})
	return g
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor waits for ch to be closed (or to yield), failing the test after
// testTimeout.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// countdown closes done after n calls to hit.
type countdown struct {
	mu   sync.Mutex
	n    int
	done chan struct{}
}

func newCountdown(n int) *countdown { return &countdown{n: n, done: make(chan struct{})} }

func (c *countdown) hit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.n == 0 {
		close(c.done)
	}
}

func testCtxCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx, cancel
}

// startAnswerThenClose serves one answer per connection and closes it at
// once, an idle keep-alive close: it counts the connections accepted and
// signals each close on closed.
func startAnswerThenClose(t testing.TB) (accepted *atomic.Int32, closed chan struct{}, url string) {
	accepted, closed = new(atomic.Int32), make(chan struct{}, 1)
	url = startRaw(t, func(c net.Conn, br *bufio.Reader) {
		accepted.Add(1)
		req, err := readRequest(br)
		if err != nil {
			return
		}
		respond(c, 200, "X-Request-Id: "+req.Header.Get("X-Request-Id")+"\r\n", "ok\n")
		c.Close()
		closed <- struct{}{}
	})
	return accepted, closed, url
}

// answerThenLoseTheNext answers the first request of a connection, waits
// for the next one to arrive and closes without an answer: a request sent
// and lost.
func answerThenLoseTheNext(c net.Conn, br *bufio.Reader) {
	req, err := readRequest(br)
	if err != nil {
		return
	}
	respond(c, 200, "X-Request-Id: "+req.Header.Get("X-Request-Id")+"\r\n", "ok\n")
	br.Peek(1)
}

// startPIDServer names pid 777 in X-Pid on /hdr (the body's first line,
// 123, must then be ignored), and elsewhere pid 4321 on the first line of
// a body larger than the read buffer.
func startPIDServer(t testing.TB) string {
	return startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hdr" {
			w.Header().Set("X-Pid", "777")
			fmt.Fprintln(w, "123")
			return
		}
		fmt.Fprintf(w, "%d\nrest of body %s\n", 4321, strings.Repeat("x", 10000))
	}))
}

// answerTwice answers every request twice: the second answer is read as
// the response to the next request and carries an id already answered.
func answerTwice(c net.Conn, br *bufio.Reader) {
	for {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		id := "X-Request-Id: " + req.Header.Get("X-Request-Id") + "\r\n"
		respond(c, 200, id, "ok\n")
		respond(c, 200, id, "ok\n")
	}
}

// allOnFreshConnections checks the results of requests to the server of
// startAnswerThenClose: each one OK, each on a connection of its own.
func allOnFreshConnections(t *testing.T, rs []result, accepted *atomic.Int32) {
	t.Helper()
	for i, r := range rs {
		if r.outcome != OutcomeOK {
			t.Fatalf("request %d: outcome %v (err %v); an idle close seen before the write must not fail", i, r.outcome, r.err)
		}
	}
	if got := accepted.Load(); got != int32(len(rs)) {
		t.Fatalf("server accepted %d connections, want %d (one per request)", got, len(rs))
	}
}

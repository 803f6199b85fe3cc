//go:build linux

package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzServeRequest sends arbitrary bytes as a request to a real control
// server on a real socket. Whatever they are, the server answers with an
// HTTP/1.1 response carrying the protocol version, or closes the
// connection, within its timeouts; and it still answers a proper request
// afterwards (a handler that panicked or a slot that leaked would not).
func FuzzServeRequest(f *testing.F) {
	for _, s := range []string{
		"GET /status HTTP/1.1\r\nHost: handoff\r\n\r\n",
		"POST /upgrade HTTP/1.1\r\nHost: handoff\r\nContent-Length: 0\r\n\r\n",
		"POST /stop HTTP/1.1\r\nHost: handoff\r\n\r\n",
		"GET /status HTTP/1.1\r\nHost: handoff\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n",
		"POST /upgrade HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999\r\n\r\nabc",
		"GET /../../etc/passwd HTTP/1.0\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"GET /status HTTP/1.1\r\nHost: h\r\n\r\nGET /status HTTP/1.1\r\nHost: h\r\n\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
	} {
		f.Add([]byte(s))
	}
	lim := DefaultLimits
	lim.HeaderTimeout, lim.IdleTimeout, lim.WriteTimeout = time.Second, time.Second, time.Second
	path := filepath.Join(f.TempDir(), "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	go ServeLimits(ln, fakeHandler{}, lim)
	client := NewClient(path)

	f.Fuzz(func(t *testing.T, req []byte) {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		// A write may fail once the server has answered and closed.
		c.Write(req)
		c.(*net.UnixConn).CloseWrite()
		resp, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server neither answered nor closed within 10s")
		}
		if len(resp) > 0 {
			var code int
			if _, err := fmt.Sscanf(string(resp), "HTTP/1.%d %d ", new(int), &code); err != nil {
				t.Fatalf("answer is not HTTP/1.x: %.200q", resp)
			}
			// net/http itself answers what it cannot parse (4xx, 5xx),
			// without our header; every response of ours carries it.
			if !bytes.Contains(resp, []byte(HeaderVersion+": "+Version)) && (code < 400 || code > 505) {
				t.Fatalf("response %d without %s: %.300q", code, HeaderVersion, resp)
			}
		}
		// After an error response net/http half-closes, waits up to 500 ms
		// and only then closes (and frees the connection's slot): at
		// thousands of inputs a second the cap is reached, and 503 is its
		// answer. What must not happen is a server that never answers again.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			st, err := client.Status(ctx)
			if err == nil && st.PID == 42 {
				break
			}
			if err == nil || !strings.Contains(err.Error(), "503 ") || ctx.Err() != nil {
				t.Fatalf("after %.200q the server no longer answers: %+v, %v", req, st, err)
			}
		}
	})
}

// FuzzClientEvents serves arbitrary bytes as the body of an upgrade's
// event stream (from a server of our own uid, in a directory of ours) to
// the real client. It never hangs, never panics, and reports success only
// for a stream whose last event it decoded is final.
func FuzzClientEvents(f *testing.F) {
	f.Add([]byte(`{"stage":"starting"}` + "\n" + `{"stage":"done","final":true}` + "\n"))
	f.Add([]byte(`{"stage":"done","final":true`))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte(`{"stage":"info","message":"` + strings.Repeat("x", 70000) + `"}` + "\n"))
	f.Add([]byte(`[1,2,3]` + "\n"))
	body := make(chan []byte)
	path := filepath.Join(f.TempDir(), "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderVersion, Version)
		w.Write(<-body)
	}))
	client := NewClient(path)
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() {
			select {
			case body <- b:
			case <-ctx.Done():
			}
		}()
		var last Event
		final, err := client.Upgrade(ctx, func(ev Event) { last = ev })
		if ctx.Err() != nil {
			t.Fatalf("the client hung on %.200q", b)
		}
		if err == nil && (!final.Final || final != last) {
			t.Fatalf("success with a final event %+v that is not the last one decoded (%+v)", final, last)
		}
	})
}

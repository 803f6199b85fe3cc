package loadgen

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/handoff-go/handoff/internal/testserver"
)

// respond writes a minimal keep-alive response.
func respond(c net.Conn, status int, headers string, body string) error {
	_, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s",
		status, http.StatusText(status), headers, len(body), body)
	return err
}

func TestOutcomeReset(t *testing.T) {
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		c.(*net.TCPConn).SetLinger(0) // close sends RST
		c.Close()
	})
	g := newTestGen(t, Config{URL: url, Clients: 1})
	r := g.busy[0].do(testCtx(t))
	if r.outcome != OutcomeReset || !r.cut {
		t.Fatalf("outcome %v cut %v (err %v), want reset", r.outcome, r.cut, r.err)
	}
}

func TestOutcomeEOF(t *testing.T) {
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br) // then close without answering
	})
	g := newTestGen(t, Config{URL: url, Clients: 1})
	r := g.busy[0].do(testCtx(t))
	if r.outcome != OutcomeEOF {
		t.Fatalf("outcome %v (err %v), want eof", r.outcome, r.err)
	}
}

func TestOutcomeTruncatedBodyIsEOF(t *testing.T) {
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
		}
	})
	g := newTestGen(t, Config{URL: url, Clients: 1})
	r := g.busy[0].do(testCtx(t))
	if r.outcome != OutcomeEOF {
		t.Fatalf("outcome %v (err %v), want eof", r.outcome, r.err)
	}
}

func TestOutcomeBadStatus(t *testing.T) {
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	g := newTestGen(t, Config{URL: url, Clients: 1})
	for range 3 {
		r := g.busy[0].do(testCtx(t))
		if r.outcome != OutcomeBadStatus || r.status != 500 {
			t.Fatalf("outcome %v status %d (err %v), want bad_status 500", r.outcome, r.status, r.err)
		}
	}
}

func TestOutcomeRefused(t *testing.T) {
	addr := testserver.FreeAddr(t) // free, and closed again: refused
	g := newTestGen(t, Config{URL: "http://" + addr, Clients: 1})
	r := g.busy[0].do(testCtx(t))
	if r.outcome != OutcomeRefused || !r.dialFailed {
		t.Fatalf("outcome %v (err %v), want refused", r.outcome, r.err)
	}
}

func TestOutcomeTimeout(t *testing.T) {
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		readRequest(br)
		br.ReadByte() // never answer; returns when the client gives up
	})
	g := newTestGen(t, Config{URL: url, Clients: 1, Timeout: 50e6})
	r := g.busy[0].do(testCtx(t))
	if r.outcome != OutcomeTimeout {
		t.Fatalf("outcome %v (err %v), want timeout", r.outcome, r.err)
	}
}

func TestOutcomeMismatched(t *testing.T) {
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "not-"+r.Header.Get("X-Request-Id"))
	}))
	g := newTestGen(t, Config{URL: url, Clients: 1})
	r := g.busy[0].do(testCtx(t))
	if r.outcome != OutcomeMismatched {
		t.Fatalf("outcome %v (err %v), want mismatched", r.outcome, r.err)
	}
}

// A server that answers every request twice: the second answer is read as
// the response to the next request and carries an id already answered.
func TestOutcomeDuplicate(t *testing.T) {
	url := startRaw(t, answerTwice)
	g := newTestGen(t, Config{URL: url, Clients: 1})
	cl := g.busy[0]
	if r := cl.do(testCtx(t)); r.outcome != OutcomeOK {
		t.Fatalf("first: outcome %v (err %v), want ok", r.outcome, r.err)
	}
	if r := cl.do(testCtx(t)); r.outcome != OutcomeDuplicate {
		t.Fatalf("second: outcome %v (err %v), want duplicate", r.outcome, r.err)
	}
	// The desynchronised connection was dropped: the next request is fine.
	if r := cl.do(testCtx(t)); r.outcome != OutcomeOK {
		t.Fatalf("third: outcome %v (err %v), want ok", r.outcome, r.err)
	}
}

func TestPIDFromHeaderOrBody(t *testing.T) {
	url := startPIDServer(t)
	for path, want := range map[string]int{"/hdr": 777, "/body": 4321} {
		g := newTestGen(t, Config{URL: url + path, Clients: 1})
		r := g.busy[0].do(testCtx(t))
		if r.outcome != OutcomeOK || r.pid != want {
			t.Fatalf("%s: outcome %v pid %d (err %v), want ok %d", path, r.outcome, r.pid, r.err, want)
		}
	}
}

func TestParsePID(t *testing.T) {
	for in, want := range map[string]int{"42": 42, " 42\r": 42, "": 0, "x": 0, "-1": 0, "99999999999": 0, "12a": 0} {
		if got := parsePID([]byte(in)); got != want {
			t.Errorf("parsePID(%q) = %d, want %d", in, got, want)
		}
	}
}

// Connection: close from the server is normal HTTP: the next request
// reconnects and nothing fails.
func TestServerConnectionCloseIsNotAFailure(t *testing.T) {
	url := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err == nil {
			respond(c, 200, "Connection: close\r\n", "ok\n")
		}
	})
	g := newTestGen(t, Config{URL: url, Clients: 1})
	for i := range 5 {
		if r := g.busy[0].do(testCtx(t)); r.outcome != OutcomeOK {
			t.Fatalf("request %d: outcome %v (err %v)", i, r.outcome, r.err)
		}
	}
}

package handoff_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/handoff-go/handoff"
)

// waitPhase waits, bounded, until h is in phase want.
func waitPhase(t *testing.T, h *handoff.Handoff, want handoff.Phase) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		p, changed := h.Phase()
		if p == want {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("phase %s, want %s", p, want)
		}
	}
}

// A Handoff with no links (the Windows build's only path, run here on
// Linux through the same code) serves on fresh sockets; Ready, Drain,
// Draining and Stop work; Upgrade says it is not supported and changes
// nothing; there is nobody to pass connections to or inherit them from.
func TestPlain_ServesDrainsAndStopsWithoutUpgrades(t *testing.T) {
	h := handoff.NewPlain(handoff.Options{DrainIdle: 50 * time.Millisecond, DrainTimeout: 5 * time.Second})
	defer h.Stop()
	if p, _ := h.Phase(); p != handoff.PhaseStarting {
		t.Fatalf("phase after newPlain: %s", p)
	}
	if g := h.Generation(); g != 1 {
		t.Fatalf("generation %d, want 1", g)
	}
	ln, err := h.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inherited := h.InheritedConns()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", strconv.Itoa(os.Getpid()))
		io.WriteString(w, "hello\n")
	})}
	served := serveInBackground(h, srv, ln)
	waitPhase(t, h, handoff.PhaseServing)

	if _, ok := <-inherited; ok {
		t.Fatal("InheritedConns delivered a connection with no predecessor")
	}
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	if resp := roundTrip(t, c, br); resp.Header.Get("X-Pid") != strconv.Itoa(os.Getpid()) {
		t.Fatalf("X-Pid %q", resp.Header.Get("X-Pid"))
	}

	if err := h.Upgrade(); !errors.Is(err, handoff.ErrNotSupported) {
		t.Fatalf("Upgrade: %v, want ErrNotSupported", err)
	}
	if p, _ := h.Phase(); p != handoff.PhaseServing {
		t.Fatalf("phase after a refused upgrade: %s", p)
	}
	if _, err := h.State(context.Background()); !errors.Is(err, handoff.ErrStateMisuse) {
		t.Fatalf("State after Ready: %v, want ErrStateMisuse", err)
	}
	// Still serving on the same connection after all that.
	roundTrip(t, c, br)

	h.Drain() // what SIGTERM (on Windows: Ctrl-C, console close) does
	select {
	case <-h.Draining():
	case <-time.After(5 * time.Second):
		t.Fatal("Draining not closed after Drain")
	}
	if n, err := h.PassConns(context.Background(), handoff.Conn{Raw: c}); n != 0 || !errors.Is(err, handoff.ErrNoSuccessor) {
		t.Fatalf("PassConns: %d, %v, want 0, ErrNoSuccessor", n, err)
	}
	waitServed(t, served, 10*time.Second)
	h.Stop()
	if p, _ := h.Phase(); p != handoff.PhaseStopped {
		t.Fatalf("phase after Stop: %s", p)
	}
	if _, err := h.Listen("tcp", "127.0.0.1:0"); !errors.Is(err, handoff.ErrStopped) {
		t.Fatalf("Listen after Stop: %v, want ErrStopped", err)
	}
	if err := h.Ready(); !errors.Is(err, handoff.ErrStopped) {
		t.Fatalf("Ready after Stop: %v, want ErrStopped", err)
	}
}

// State before Ready with nobody before us is ErrNoState; asking twice is
// a misuse, and says so with its own error.
func TestPlain_StateMisuseHasItsOwnError(t *testing.T) {
	h := handoff.NewPlain(handoff.Options{})
	defer h.Stop()
	if _, err := h.State(context.Background()); !errors.Is(err, handoff.ErrNoState) {
		t.Fatalf("State: %v, want ErrNoState", err)
	}
	_, err := h.State(context.Background())
	if !errors.Is(err, handoff.ErrStateMisuse) || errors.Is(err, handoff.ErrNoState) {
		t.Fatalf("second State: %v, want ErrStateMisuse only", err)
	}
}

// A received connection used through NetConn yields the bytes the old
// generation had read but not processed before the socket's own.
func TestConnNetConn_ReadsBufferedFirst(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { b.Write([]byte("world")) }()
	nc := handoff.Conn{Raw: a, Buffered: []byte("hello ")}.NetConn()
	got := make([]byte, len("hello world"))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello world" {
		t.Fatalf("read %q", got)
	}
}

// A connection with no socket underneath cannot move, and nothing is
// passed.
func TestPassConns_RefusesAConnectionWithoutASocket(t *testing.T) {
	h := handoff.NewPlain(handoff.Options{})
	defer h.Stop()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	n, err := h.PassConns(context.Background(), handoff.Conn{Raw: a})
	if n != 0 || !errors.Is(err, handoff.ErrNotMovable) {
		t.Fatalf("PassConns(net.Pipe): %d, %v, want 0, ErrNotMovable", n, err)
	}
}

// roundTrip sends one keep-alive GET / on c, reads the answer through br
// (which reads c), drains and closes its body and returns it; the
// exchange is bounded by a 10 s deadline on c.
func roundTrip(t testing.TB, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// serveInBackground runs h.Serve(srv, ln) on its own goroutine and returns
// the channel its result arrives on.
func serveInBackground(h *handoff.Handoff, srv *http.Server, ln net.Listener) <-chan error {
	served := make(chan error, 1)
	go func() { served <- h.Serve(context.Background(), srv, ln) }()
	return served
}

// waitServed waits (within at most) for Serve's result on served after a
// drain, and fails t unless it returned nil.
func waitServed(t testing.TB, served <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(within):
		t.Fatal("Serve did not return after the drain")
	}
}

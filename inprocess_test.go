//go:build linux

package handoff_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/internal/testserver"
)

// Concurrent upgrade requests: exactly one runs, handing the socket to a
// new process started through the LISTEN_PID shim (Options.Command points
// at another program); the other 19 came while it ran, so they share one
// follow-up, and since the first succeeded that follow-up is passed on to
// the new generation (ErrPassedOn, Waited), which upgrades once more.
func TestConcurrentUpgrades_OneRunsTheRestShareOneFollowUp(t *testing.T) {
	hello := filepath.Join(t.TempDir(), "hello")
	testserver.Replace(t, filepath.Join(buildBinaries(t), "hello"), hello)
	t.Cleanup(func() {
		for _, pid := range processesOf(hello) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	addr := testserver.FreeAddr(t)
	h, ln := listenWith(t, handoff.Options{
		NoSignals: true,
		Probation: 50 * time.Millisecond,
		Command: func() (string, []string, error) {
			return hello, []string{hello, "-addr", addr, "-probation", "50ms"}, nil
		},
	}, addr)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", "0")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}

	const callers = 20
	var wg sync.WaitGroup
	errs := make([]error, callers)
	reps := make([]handoff.UpgradeReport, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = h.UpgradeReport()
		}()
	}
	wg.Wait()
	ran, passed, second := 0, 0, 0
	for i, err := range errs {
		switch {
		case err == nil && !reps[i].Waited:
			ran++
			second = reps[i].PID
		case errors.Is(err, handoff.ErrPassedOn) && reps[i].Waited:
			passed++
		case errors.Is(err, handoff.ErrNotServing):
			// Came after the first was over: this generation drains.
		default:
			t.Errorf("unexpected outcome: %+v, %v", reps[i], err)
		}
	}
	if ran != 1 || passed == 0 {
		t.Fatalf("%d upgrades ran and %d calls were passed on, want 1 and some: %v", ran, passed, errs)
	}
	for i := range reps {
		if errors.Is(errs[i], handoff.ErrPassedOn) && reps[i].PassedTo != second {
			t.Errorf("passed on to pid %d, want the new generation %d", reps[i].PassedTo, second)
		}
	}
	select {
	case <-h.Draining():
	default:
		t.Fatal("Draining not closed after a successful upgrade")
	}
	// The follow-up ran in the new generation: it upgraded and drains.
	waitExit(t, second, 30*time.Second)
	third := servedBy(t, addr)
	if third == 0 || third == os.Getpid() || third == second {
		t.Fatalf("served by %d after the follow-up, want a third hello process (the second was %d)", third, second)
	}
}

// A unix socket file left behind by a crash is replaced; a path someone
// listens on is refused with a clear error; the last generation to stop
// removes the path it bound.
func TestUnixSocketPaths(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := filepath.Join(t.TempDir(), "app.sock")
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, as after a crash

	h, err := handoff.New(handoff.Options{NoSignals: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Listen("unix", path); err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	other, err := handoff.New(handoff.Options{NoSignals: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Stop()
	_, err = other.Listen("unix", path)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("second listener on a live path: err = %v, want address already in use", err)
	}
	h.Stop()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after the last generation stopped: %v", err)
	}
}

// Bad input to Listen gets an error that names the operation, never a panic.
func TestListenRejectsBadInput(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h, err := handoff.New(handoff.Options{NoSignals: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	for _, c := range [][2]string{{"tcp", "no-port"}, {"sctp", "127.0.0.1:0"}, {"udp", "127.0.0.1:0"}} {
		if _, err := h.Listen(c[0], c[1]); err == nil || !strings.HasPrefix(err.Error(), "handoff: listen") {
			t.Errorf("Listen(%q, %q) = %v", c[0], c[1], err)
		}
	}
	if _, err := h.ListenPacket("tcp", "127.0.0.1:0"); err == nil {
		t.Error("ListenPacket(tcp) accepted")
	}
	pc, err := h.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ListenPacket(udp): %v", err)
	}
	pc.Close()
}

// New refuses a parent that speaks another protocol version, so the parent's
// upgrade fails with that message instead of a silent misunderstanding.
func TestNewRefusesUnknownProtocolVersion(t *testing.T) {
	t.Setenv("HANDOFF_PROTOCOL", "99")
	_, err := handoff.New(handoff.Options{NoSignals: true})
	if !errors.Is(err, handoff.ErrProtocol) {
		t.Fatalf("New with HANDOFF_PROTOCOL=99: err = %v, want ErrProtocol", err)
	}
}

// The drain closes idle keep-alive connections that stay quiet, but not a
// new connection whose first request has not arrived yet: a request is on
// its way (on a loaded machine the client's write can lag its connect by
// more than DrainIdle), and closing the connection would fail it.
func TestDrain_NewConnectionsRequestStillComing_IsAnswered(t *testing.T) {
	h, ln := listenWith(t, handoff.Options{NoSignals: true, NoMigrate: true, DrainIdle: 50 * time.Millisecond}, "127.0.0.1:0")
	accepted := make(chan struct{}, 2)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				accepted <- struct{}{}
			}
		},
	}
	served := serveInBackground(h, srv, ln)

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleR := bufio.NewReader(idle)
	if resp := roundTrip(t, idle, idleR); resp.Close {
		t.Fatal("keep-alive refused before the drain")
	}
	fresh, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	for range 2 {
		select {
		case <-accepted:
		case <-time.After(5 * time.Second):
			t.Fatal("connections not accepted")
		}
	}

	h.Drain()
	// The idle connection is closed once quiet for DrainIdle: by then the
	// drain has passed over the new one too.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: %v, want EOF", err)
	}
	resp := roundTrip(t, fresh, bufio.NewReader(fresh))
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("request on the new connection: status %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	waitServed(t, served, 5*time.Second)
}

// An h2c connection on which no request ran yet is HTTP/2 all the same:
// the drain sends it GOAWAY (srv.Shutdown) instead of closing it as an idle
// HTTP/1 connection under the client's feet.
func TestDrain_H2CConnectionWithoutRequest_GetsGoAway(t *testing.T) {
	h, ln := listenWith(t, handoff.Options{NoSignals: true, DrainIdle: 50 * time.Millisecond}, "127.0.0.1:0")
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	serveInBackground(h, srv, ln)

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	// The client preface and an empty SETTINGS frame; no request.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	frames := make(chan byte, 16)
	go func() {
		defer close(frames)
		hdr := make([]byte, 9)
		for {
			if _, err := io.ReadFull(c, hdr); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, c, int64(hdr[0])<<16|int64(hdr[1])<<8|int64(hdr[2])); err != nil {
				return
			}
			frames <- hdr[3]
		}
	}()
	// The server's SETTINGS: the connection is up and speaks HTTP/2.
	if typ := <-frames; typ != 0x4 {
		t.Fatalf("first frame type %d, want SETTINGS", typ)
	}
	h.Drain()
	for typ := range frames {
		if typ == 0x7 {
			return // GOAWAY
		}
	}
	t.Fatal("the connection was closed without GOAWAY")
}

// A successor that is not a handoff program (here the Python example, run
// through Options.Command) never connects the handover channel: the old
// generation notices at cutover, says so once, and drains at once instead
// of waiting for a channel that will not come.
func TestUpgradeToNonHandoffProgram_DrainsWithoutWaitingForTheChannel(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	script, _ := filepath.Abs("examples/python/server.py")
	addr := testserver.FreeAddr(t)
	var logs testserver.SyncBuffer
	h, ln := listenWith(t, handoff.Options{
		NoSignals: true,
		Probation: -1,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		Command: func() (string, []string, error) {
			return py, []string{py, script, "--name", "tcp|" + strings.ReplaceAll(addr, ":", "|"), "--drain-idle", "0.05"}, nil
		},
	}, addr)
	served := serveInBackground(h, &http.Server{Handler: http.NotFoundHandler()}, ln)
	for phase, changed := h.Phase(); phase == handoff.PhaseStarting; phase, changed = h.Phase() {
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not declare the generation ready")
		}
	}
	if err := h.Upgrade(); err != nil {
		t.Fatal(err)
	}
	var child int
	defer func() {
		if child > 0 {
			syscall.Kill(child, syscall.SIGKILL)
		}
	}()
	child = servedBy(t, addr)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "did not connect its channel (not a handoff program?)") {
		t.Fatalf("no word about the missing channel:\n%s", out)
	}
	if strings.Contains(out, "level=WARN") {
		t.Fatalf("warnings for an ordinary upgrade to a non-handoff program:\n%s", out)
	}
}

// listenWith creates a Handoff in this process with opts and listens on
// addr through it; Stop runs at the end of the test.
func listenWith(t testing.TB, opts handoff.Options, addr string) (*handoff.Handoff, net.Listener) {
	t.Helper()
	h, err := handoff.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Stop() })
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, ln
}

// serveReady serves 404s on ln until t's cleanup, then tells h it is
// ready, failing t if Ready does.
func serveReady(t *testing.T, h *handoff.Handoff, ln net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
}

// upgradeOutcome is what one h.UpgradeReport returned.
type upgradeOutcome struct {
	rep handoff.UpgradeReport
	err error
}

// upgradeReport runs h.UpgradeReport in the background; its outcome
// arrives on the channel returned.
func upgradeReport(h *handoff.Handoff) <-chan upgradeOutcome {
	done := make(chan upgradeOutcome, 1)
	go func() { r, err := h.UpgradeReport(); done <- upgradeOutcome{r, err} }()
	return done
}

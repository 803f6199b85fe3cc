//go:build linux

package handoff_test

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/handoff-go/handoff"
)

// Concurrent upgrade requests: exactly one runs, the others are refused
// with ErrUpgradeInProgress (or ErrNotServing once it is over), and the one
// that ran handed the socket to a new process started through the LISTEN_PID
// shim (Options.Command points at another program).
func TestConcurrentUpgrades_OneRuns(t *testing.T) {
	hello := filepath.Join(buildBinaries(t), "hello")
	addr := freeAddr(t)
	h, err := handoff.New(handoff.Options{
		NoSignals: true,
		Probation: 50 * time.Millisecond,
		Command: func() (string, []string, error) {
			return hello, []string{hello, "-addr", addr}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	ln, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
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
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.Upgrade()
		}()
	}
	wg.Wait()
	ran := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ran++
		case errors.Is(err, handoff.ErrUpgradeInProgress), errors.Is(err, handoff.ErrNotServing):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ran != 1 {
		t.Fatalf("%d upgrades ran, want 1: %v", ran, errs)
	}
	select {
	case <-h.Draining():
	default:
		t.Fatal("Draining not closed after a successful upgrade")
	}
	pid := servedBy(t, addr)
	if pid == 0 || pid == os.Getpid() {
		t.Fatalf("served by %d after the upgrade, want the new hello process", pid)
	}
	syscall.Kill(pid, syscall.SIGKILL)
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

//go:build unix

package takeover

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/testserver"
)

func privatePath(t *testing.T) string {
	t.Helper()
	return testserver.PrivateSocketPath(t, "s")
}

// One lock holder at a time; released, the next one gets it.
func TestAcquire_SecondHolderBusyUntilReleased(t *testing.T) {
	path := privatePath(t)
	a, b := New(path), New(path)
	if err := a.Acquire(); err != nil {
		t.Fatal(err)
	}
	if err := b.Acquire(); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Acquire: %v, want ErrBusy", err)
	}
	a.Release()
	if err := b.Acquire(); err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	b.Release()
}

// A new holder's Listen replaces the path while the old listener still
// listens: the path answers throughout, and the old holder's Close leaves
// the new one's file alone; the last holder's Close removes it.
func TestListen_ReplacesThePathAtomically_CloseLeavesTheSuccessorsFile(t *testing.T) {
	path := privatePath(t)
	old, next := New(path), New(path)
	if _, err := old.Listen(); err != nil {
		t.Fatal(err)
	}
	if _, err := next.Listen(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("path after the second Listen: %v, mode %v; want a 0600 socket", err, fi.Mode())
	}
	old.Close(false)
	if !next.Alive() {
		t.Fatal("the path does not answer after the replaced holder closed")
	}
	next.Close(false)
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("the last holder's Close left %s: %v", path, err)
	}
}

// A socket file nobody listens on is reported stale, not an error.
func TestDial_StaleFileAndNoFile(t *testing.T) {
	path := privatePath(t)
	p := New(path)
	if _, found, err := p.Dial(t.Context()); err != nil || found != Nobody {
		t.Fatalf("no file: %v, %v; want Nobody", found, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	os.Chmod(path, 0o600)
	if _, found, err := p.Dial(t.Context()); err != nil || found != Stale {
		t.Fatalf("stale file: %v, %v; want Stale", found, err)
	}
}

// A directory that group or others may use is refused by Dial and Listen.
func TestCheckDir_RefusesAnOpenDirectory(t *testing.T) {
	path := privatePath(t)
	os.Chmod(filepath.Dir(path), 0o755)
	p := New(path)
	if _, err := p.Listen(); err == nil || !strings.Contains(err.Error(), "has mode 0755") {
		t.Fatalf("Listen in a 0755 directory: %v", err)
	}
	if _, _, err := p.Dial(t.Context()); err == nil || !strings.Contains(err.Error(), "has mode 0755") {
		t.Fatalf("Dial in a 0755 directory: %v", err)
	}
}

func TestSocketMeta_RoundTripAndRefusals(t *testing.T) {
	m := SocketMeta{State: true, Generation: 7, Index: 2, Count: 3, Name: "tcp|127.0.0.1:8080"}
	got, err := DecodeSocketMeta(m.Encode())
	if err != nil || got != m {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
	}
	for _, b := range [][]byte{nil, []byte("h127.0.0.1:80"), SocketMeta{Generation: 2, Index: 3, Count: 3}.Encode(), SocketMeta{Generation: 1, Count: 1}.Encode()} {
		if _, err := DecodeSocketMeta(b); !errors.Is(err, ErrMeta) {
			t.Errorf("DecodeSocketMeta(%q): %v, want ErrMeta", b, err)
		}
	}
}

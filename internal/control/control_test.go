package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type fakeHandler struct{}

func (fakeHandler) Upgrade(ctx context.Context) <-chan Event {
	ch := make(chan Event, 3)
	ch <- Event{Stage: StageStarting, Message: "starting"}
	ch <- Event{Stage: StageRolledBack, Final: true, Message: "rolled back"}
	close(ch)
	return ch
}

func (fakeHandler) Status() Status { return Status{PID: 42, State: "serving"} }

func (fakeHandler) Stop() Event { return Event{Stage: StageInfo, Message: "stopping"} }

func TestClientServerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go Serve(ln, fakeHandler{})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created directory mode: %v %v", fi.Mode(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := NewClient(path)
	var stages []Stage
	final, err := c.Upgrade(ctx, func(ev Event) { stages = append(stages, ev.Stage) })
	if err != nil || final.Stage != StageRolledBack || len(stages) != 2 || ExitCode(final.Stage) != ExitRolledBack {
		t.Fatalf("upgrade: %+v %v %v", final, stages, err)
	}
	if st, err := c.Status(ctx); err != nil || st.PID != 42 {
		t.Fatalf("status: %+v %v", st, err)
	}
	// A second supervisor on the same path is refused while this one lives.
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen: %v", err)
	}
}

func TestListenReplacesAStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody answers: a killed supervisor's leftover
	ln, err = Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()
}

func TestPrivateDirRefusesAnOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	if err := PrivateDir(dir); err == nil {
		t.Fatal("PrivateDir accepted a 0755 directory")
	}
}

//go:build unix

package sdnotify

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSendReceive(t *testing.T) {
	r := listen(t)
	msg, err := Format("READY=1", "STATUS=serving", "STATUS=really serving", "MAINPID=99")
	if err != nil {
		t.Fatal(err)
	}
	if err := Send(r.Path(), msg); err != nil {
		t.Fatal(err)
	}
	d := receive(t, r)
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	if len(d.Msg.Fields) != 4 {
		t.Fatalf("got %d fields, want 4: %q", len(d.Msg.Fields), d.Msg.Fields)
	}
	for k, want := range map[string]string{"READY": "1", "STATUS": "really serving", "MAINPID": "99"} {
		if v, _ := d.Msg.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	wantPID, wantUID := 0, -1
	if runtime.GOOS == "linux" {
		wantPID, wantUID = os.Getpid(), os.Getuid()
	}
	if d.PID != wantPID || d.UID != wantUID {
		t.Errorf("PID, UID = %d, %d; want %d, %d", d.PID, d.UID, wantPID, wantUID)
	}
	if d.FDs != 0 {
		t.Errorf("FDs = %d, want 0", d.FDs)
	}
}

func TestSendErrors(t *testing.T) {
	if err := Send("", []byte("READY=1")); err != ErrNoSocket {
		t.Errorf("Send(\"\") = %v, want ErrNoSocket", err)
	}
	err := Send(filepath.Join(t.TempDir(), "nobody"), []byte("READY=1"))
	if err == nil || !strings.HasPrefix(err.Error(), "sdnotify: send: ") {
		t.Errorf("Send to missing socket = %v", err)
	}
	if runtime.GOOS != "linux" {
		if err := Send("@x", []byte("READY=1")); err == nil {
			t.Error("Send to abstract socket succeeded off Linux")
		}
	}
}

func TestListenRefusesExisting(t *testing.T) {
	r := listen(t)
	if _, err := Listen(r.Path()); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("Listen on live socket = %v, want EADDRINUSE", err)
	}
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file); err == nil {
		t.Error("Listen over a regular file succeeded")
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("existing file was touched: %v", err)
	}
	if _, err := Listen(""); err == nil {
		t.Error(`Listen("") succeeded`)
	}
}

func TestListenRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	r, err := Listen("rel.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !filepath.IsAbs(r.Path()) {
		t.Errorf("Path() = %q, want absolute", r.Path())
	}
}

func TestSocketMode(t *testing.T) {
	r := listen(t)
	fi, err := os.Stat(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want socket with 0600", fi.Mode())
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	r, err := Listen(filepath.Join(t.TempDir(), "n.sock"))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := r.Receive()
		errc <- err
	}()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, errc, "Close did not unblock Receive"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Receive after Close = %v, want net.ErrClosed", err)
	}
	if _, err := os.Lstat(r.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after Close: %v", err)
	}
	if err := r.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v, want net.ErrClosed", err)
	}
}

func TestCloseSparesReplacedFile(t *testing.T) {
	r, err := Listen(filepath.Join(t.TempDir(), "n.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(r.Path()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Path(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.Path()); err != nil {
		t.Errorf("Close removed a file it did not create: %v", err)
	}
}

func TestMalformedKeepsWorking(t *testing.T) {
	r := listen(t)
	for _, bad := range []string{
		"READY",
		"ready=1",
		"READY=1\x00STATUS=x",
		"STATUS=" + strings.Repeat("x", MaxSize), // just over
		"STATUS=" + strings.Repeat("x", 3*MaxSize), // truncated by the kernel read
	} {
		if err := Send(r.Path(), []byte(bad)); err != nil {
			t.Fatal(err)
		}
		d := receive(t, r)
		if !errors.Is(d.Err, ErrMalformed) {
			t.Errorf("datagram %.20q: Err = %v, want ErrMalformed", bad, d.Err)
		}
		if d.Msg.Fields != nil {
			t.Errorf("datagram %.20q: Msg set alongside Err", bad)
		}
	}
	if err := Send(r.Path(), []byte("READY=1")); err != nil {
		t.Fatal(err)
	}
	if d := receive(t, r); d.Err != nil {
		t.Fatalf("receiver broken after malformed input: %v", d.Err)
	} else if v, _ := d.Msg.Get("READY"); v != "1" {
		t.Fatalf("READY = %q", v)
	}
}

// openFDs counts this process's descriptors where the system lets us.
func openFDs(t *testing.T) (int, bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	return len(ents), true
}

func TestFDsClosedEvenWhenMalformed(t *testing.T) {
	r := listen(t)
	for _, payload := range []string{"not a message", "READY=1"} {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		// Three copies: the receiver must close every one of them, or the
		// pipe never reports EOF.
		dup1, err := unix.Dup(int(pw.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		dup2, err := unix.Dup(int(pw.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err = send(ctx, r.Path(), []byte(payload), []int{int(pw.Fd()), dup1, dup2})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		pw.Close()
		unix.Close(dup1)
		unix.Close(dup2)

		before, counting := openFDs(t)
		d := receive(t, r)
		after, _ := openFDs(t)
		if d.FDs != 3 {
			t.Errorf("%q: FDs = %d, want 3", payload, d.FDs)
		}
		if (d.Err != nil) != (payload == "not a message") {
			t.Errorf("%q: Err = %v", payload, d.Err)
		}
		if counting && after != before {
			t.Errorf("%q: fd count went from %d to %d", payload, before, after)
		}
		pr.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, err := pr.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("%q: pipe read = %v, want EOF (receiver kept an fd)", payload, err)
		}
		pr.Close()
	}
}

func TestBarrier(t *testing.T) {
	r := listen(t)
	ch := serve(t, r)
	if err := Send(r.Path(), []byte("STATUS=before")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := Barrier(ctx, r.Path()); err != nil {
		t.Fatal(err)
	}
	// The barrier's return implies the earlier datagram was already read.
	if d := next(t, ch); d.Err != nil || d.Msg.Fields[0] != (Field{"STATUS", "before"}) {
		t.Fatalf("first datagram = %+v", d)
	}
	d := next(t, ch)
	if v, _ := d.Msg.Get("BARRIER"); v != "1" || d.FDs != 1 {
		t.Fatalf("barrier datagram = %+v", d)
	}
}

func TestBarrierTimesOut(t *testing.T) {
	r := listen(t) // never read
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Barrier(ctx, r.Path())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Barrier = %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > waitTimeout {
		t.Fatalf("Barrier took %v", el)
	}
}

func TestBarrierCanceled(t *testing.T) {
	r := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Barrier(ctx, r.Path()) }()
	cancel()
	if err := waitErr(t, errc, "cancel did not stop Barrier"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Barrier = %v, want Canceled", err)
	}
	if err := Barrier(context.Background(), ""); err != ErrNoSocket {
		t.Fatalf("Barrier(\"\") = %v, want ErrNoSocket", err)
	}
}

func TestAbstractRefusedOffLinux(t *testing.T) {
	if runtime.GOOS == "linux" {
		t.Skip("abstract sockets exist on Linux")
	}
	if _, err := Listen("@handoff-test"); err == nil {
		t.Fatal("Listen(@...) succeeded")
	}
}

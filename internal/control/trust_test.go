//go:build linux

package control

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: chown to, and run a process as, another uid")
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serveIn runs a real control server (fakeHandler) at dir/ctl.sock.
func serveIn(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go Serve(ln, fakeHandler{})
	return path
}

func wantUntrusted(t *testing.T, err error, says ...string) {
	t.Helper()
	if !errors.Is(err, ErrUntrusted) {
		t.Fatalf("got %v, want ErrUntrusted", err)
	}
	for _, s := range says {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not say %q", err, s)
		}
	}
}

// Issue 12, finding 2: the client trusted any socket. In a directory that
// others may write to, or that belongs to another user, somebody else may
// have put the socket there.
func TestClient_RefusesASocketInADirectoryOthersControl(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		name  string
		mode  os.FileMode
		owner int
		says  string
	}{
		{"world-writable", 0o777, 0, "mode -rwxrwxrwx"},
		{"group-writable", 0o770, 0, "mode -rwxrwx---"},
		{"owned by another user", 0o755, testserver.Nobody, "belongs to uid 65534"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := serveIn(t, dir)
			if err := os.Chmod(dir, c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(dir, c.owner, -1); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chown(dir, 0, -1) })
			_, err := NewClient(path).Status(testCtx(t))
			wantUntrusted(t, err, path, c.says)
		})
	}
	// The same server in a directory of ours, 0700, is trusted.
	if st, err := NewClient(serveIn(t, t.TempDir())).Status(testCtx(t)); err != nil || st.PID != 42 {
		t.Fatalf("status from a trusted socket: %+v, %v", st, err)
	}
}

func TestFind_RefusesADefaultDirectoryItCannotTrust(t *testing.T) {
	needRoot(t)
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	dir := Dir()
	if _, err := Find(); !errors.Is(err, ErrNoSupervisor) {
		t.Fatalf("Find without the directory: %v, want ErrNoSupervisor", err)
	}
	path := serveIn(t, dir) // Listen makes it ours, 0700
	if got, err := Find(); err != nil || got != path {
		t.Fatalf("Find = %q, %v; want %q", got, err, path)
	}
	os.Chmod(dir, 0o755)
	_, err := Find()
	wantUntrusted(t, err, dir, "chmod 700")
	os.Chmod(dir, 0o700)
	os.Chown(dir, testserver.Nobody, -1)
	t.Cleanup(func() { os.Chown(dir, 0, -1) })
	_, err = Find()
	wantUntrusted(t, err, dir, "belongs to uid 65534")
}

// Issue 12, finding 2: a fake supervisor run by another user answered
// "done, serving" and `handoff upgrade` exited 0. The socket here sits in a
// directory of ours (so only the server's uid gives it away).
func TestClient_RefusesAServerOfAnotherUser(t *testing.T) {
	needRoot(t)
	// A directory the other user may bind in, holding a copy of this test
	// binary it may run.
	shared, bin := testserver.CopyForNobody(t, "fake")
	fake := filepath.Join(shared, "fake.sock")
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONTROL_FAKE_SERVER="+fake)
	cmd.SysProcAttr = testserver.AsNobody()
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // by pid: only the process this test started
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "listening\n" {
			t.Fatalf("fake server said %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fake server did not start listening within 10s")
	}
	// Moved into our own 0700 directory: connect(2) follows the path to
	// the same socket, still listened on by uid 65534.
	path := filepath.Join(t.TempDir(), "ctl.sock")
	if err := os.Rename(fake, path); err != nil {
		t.Fatal(err)
	}
	final, err := NewClient(path).Upgrade(testCtx(t), nil)
	if err == nil {
		t.Fatalf("the client trusted a fake supervisor of uid %d: final event %+v", testserver.Nobody, final)
	}
	wantUntrusted(t, err, path, "served by uid 65534")
}

// fakeSupervisor is what another user would run: a control server that
// claims every upgrade succeeded.
func fakeSupervisor(path string) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.Stderr.WriteString("fake supervisor: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Chmod(path, 0o777)
	os.Stdout.WriteString("listening\n")
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderVersion, Version)
		w.Write([]byte(`{"stage":"done","final":true,"message":"done, generation 2 serving"}` + "\n"))
	}))
	os.Exit(0)
}

func TestMain(m *testing.M) {
	if path := os.Getenv("CONTROL_FAKE_SERVER"); path != "" {
		fakeSupervisor(path)
	}
	os.Exit(m.Run())
}

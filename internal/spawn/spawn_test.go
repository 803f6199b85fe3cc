//go:build unix

package spawn

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/sockets"
	"github.com/handoff-go/handoff/internal/testserver"
)

// golang/go#43894: passing a listener through os/exec's ExtraFiles calls
// Fd(), which switches the shared file description to blocking mode under
// the parent's accept loop. Start must leave it non-blocking.
func TestStartKeepsParentListenerNonBlocking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := sockets.Dup(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	// The child checks that fd 3 is a socket it can use, and exits.
	p, err := Start(Config{Path: "/bin/sh", Args: []string{"sh", "-c", "test -S /dev/fd/3"}, Files: []int{fd}})
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	if !p.State().Success() {
		t.Fatalf("child did not see a socket at fd 3: %s", p.Describe())
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Fatal("the parent's listener was switched to blocking mode")
	}
}

// A child that fails leaves its exit status and last stderr lines for the
// error message, and they are also passed through to Stderr.
func TestDescribeCarriesExitStatusAndLastLines(t *testing.T) {
	var out testserver.SyncBuffer
	script := `for i in 1 2 3 4 5; do echo "line $i" >&2; done; exit 3`
	p, err := Start(Config{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Stderr: &out, TailLines: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, p)
	d := p.Describe()
	if !strings.Contains(d, "exit status 3") || !strings.Contains(d, "line 4\nline 5") || strings.Contains(d, "line 3") {
		t.Fatalf("Describe = %q", d)
	}
	if !strings.Contains(out.String(), "line 1") {
		t.Fatalf("stderr not passed through: %q", out.String())
	}
}

func TestStartMissingExecutable(t *testing.T) {
	_, err := Start(Config{Path: "/nonexistent/app"})
	if err == nil || !strings.Contains(err.Error(), "start /nonexistent/app") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
}

func TestTailCapsLongLines(t *testing.T) {
	tl := newTail(3)
	tl.Write(bytes.Repeat([]byte("x"), 3*maxLine))
	tl.Write([]byte("\nshort\n"))
	if got := tl.String(); len(got) != maxLine+len("\nshort") {
		t.Fatalf("tail kept %d bytes", len(got))
	}
}

// waitExit waits (10 s at most) for p to exit; past that it kills p and
// fails t.
func waitExit(t *testing.T, p *Process) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Kill()
		t.Fatal("child did not exit")
	}
}

//go:build unix

package activation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inheritable dups fd without close-on-exec, as an activator leaves it.
func inheritable(t *testing.T, f interface{ Fd() uintptr }) int {
	t.Helper()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// listenerFile returns an *os.File for a fresh socket of network ("tcp",
// "udp" or "unix", listening or bound on loopback; "tcp connection", a
// connected TCP socket, no listener), closed when the test ends.
func listenerFile(t *testing.T, network string) *os.File {
	t.Helper()
	loopback := net.IPv4(127, 0, 0, 1)
	var s interface {
		File() (*os.File, error)
		Close() error
	}
	var err error
	switch network {
	case "tcp":
		s, err = net.ListenTCP("tcp", &net.TCPAddr{IP: loopback})
	case "udp":
		s, err = net.ListenUDP("udp", &net.UDPAddr{IP: loopback})
	case "unix":
		s, err = net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "s"), Net: "unix"})
	case "tcp connection":
		var ln *net.TCPListener
		if ln, err = net.ListenTCP("tcp", &net.TCPAddr{IP: loopback}); err == nil {
			t.Cleanup(func() { ln.Close() })
			s, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
		}
	default:
		t.Fatalf("listenerFile: no network %q", network)
	}
	if err != nil {
		t.Fatal(err)
	}
	if network == "tcp connection" {
		t.Cleanup(func() { s.Close() }) // the peer stays connected
	} else {
		defer s.Close() // the file is a dup: the socket lives on in it
	}
	f, err := s.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tempFile creates a regular file in the test's directory, closed when
// the test ends.
func tempFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestCheck_AcceptsWhatTheNameAnnounces(t *testing.T) {
	tcp := inheritable(t, listenerFile(t, "tcp"))
	udp := inheritable(t, listenerFile(t, "udp"))
	uds := inheritable(t, listenerFile(t, "unix"))
	file := tempFile(t, "journal")
	reg := inheritable(t, file)
	for _, c := range []struct {
		p      Passed
		kind   Kind
		socket bool
	}{
		{Passed{tcp, "tcp|127.0.0.1|0"}, KindTCP, true},
		{Passed{udp, "udp|127.0.0.1|0"}, KindUDP, true},
		{Passed{uds, "unix|/run/app.sock"}, KindUnix, true},
		{Passed{tcp, "http"}, KindAny, true}, // a systemd name says nothing
		{Passed{reg, "journal"}, KindAny, false},
	} {
		in, err := Check(c.p)
		if err != nil || in.Kind != c.kind || in.Socket != c.socket || !in.Same() {
			t.Errorf("Check(%+v) = %+v, %v; want kind %v, socket %v", c.p, in, err, c.kind, c.socket)
		}
	}
}

func TestCheck_RefusesWhatWasNotPassed(t *testing.T) {
	udp := inheritable(t, listenerFile(t, "udp"))
	tcp := inheritable(t, listenerFile(t, "tcp"))
	file := tempFile(t, "journal")
	reg := inheritable(t, file)
	// A connected TCP socket is no listener.
	conn := inheritable(t, listenerFile(t, "tcp connection"))
	closed := inheritable(t, file)
	unix.Close(closed)

	for _, c := range []struct {
		p    Passed
		says string
	}{
		// Opened by this process: the Go runtime, os.Open, net.Listen all set it.
		{Passed{int(file.Fd()), "journal"}, "close-on-exec"},
		{Passed{closed, "http"}, "fewer descriptors were passed"},
		{Passed{udp, "tcp|:8080"}, "is a UDP socket; its name announces a listening TCP socket"},
		{Passed{tcp, "unixgram|/run/x"}, "is a listening TCP socket; its name announces a unix datagram socket"},
		{Passed{reg, "tcp|:8080"}, "is not a socket"},
		{Passed{conn, "tcp|:8080"}, "is a socket of another kind (not listening, or another family); its name announces a listening TCP socket"},
	} {
		_, err := Check(c.p)
		if !errors.Is(err, ErrNotInherited) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "fd "+strconv.Itoa(c.p.FD)) {
			t.Errorf("Check(%+v) = %v; want ErrNotInherited naming the fd and saying %q", c.p, err, c.says)
		}
	}
}

func TestInherited_SameRefusesAReusedNumber(t *testing.T) {
	fd := inheritable(t, tempFile(t, "a"))
	in, err := Check(Passed{fd, "a"})
	if err != nil {
		t.Fatal(err)
	}
	other := tempFile(t, "b")
	// The number is closed and reused for another file, as a runtime or a
	// library would reuse it.
	if err := unix.Dup2(int(other.Fd()), fd); err != nil {
		t.Fatal(err)
	}
	if in.Same() {
		t.Fatal("Same() after the number was reused for another file")
	}
}

// The real case of issue 12: a process started with LISTEN_FDS=3 that got
// only two descriptors. Fds 3 and 4 pass; fd 5 is whatever this process
// opened itself, and must be refused, not adopted or closed.
func TestCheck_ChildWithMoreAnnouncedThanPassed(t *testing.T) {
	if os.Getenv("ACTIVATION_CHECK_CHILD") == "1" {
		return // the child's work is done in TestMain
	}
	tcp := listenerFile(t, "tcp")
	journal := tempFile(t, "journal")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ACTIVATION_CHECK_CHILD=1",
		"LISTEN_FDS=3", "LISTEN_FDNAMES=tcp|127.0.0.1|0:journal:udp|127.0.0.1|0")
	cmd.ExtraFiles = []*os.File{tcp, journal}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"fd 3 ok a listening TCP socket",
		"fd 4 ok any descriptor",
		"fd 5 refused: not an inherited descriptor: fd 5 (udp|127.0.0.1|0)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("child output lacks %q:\n%s", want, got)
		}
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("ACTIVATION_CHECK_CHILD") == "1" {
		// LISTEN_PID cannot be set by os/exec before the exec: the child
		// takes it as its own, as HANDOFF_ADOPT_FDS does.
		passed, err := Parse(os.Getenv("LISTEN_FDS"), strconv.Itoa(os.Getpid()), os.Getenv("LISTEN_FDNAMES"), os.Getpid())
		if err != nil {
			fmt.Println("parse:", err)
			os.Exit(1)
		}
		for _, p := range passed {
			if in, err := Check(p); err != nil {
				fmt.Printf("fd %d refused: %v\n", p.FD, err)
			} else {
				fmt.Printf("fd %d ok %v\n", p.FD, in.Kind)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

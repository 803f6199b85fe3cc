//go:build unix

package sockets

import (
	"net"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func describe(t *testing.T, c syscall.Conn) Desc {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Dup(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	d, err := Describe(fd)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMatchTCPByAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := describe(t, ln.(*net.TCPListener))
	port := ln.Addr().(*net.TCPAddr).Port
	for _, c := range []struct {
		network, addr string
		want          bool
	}{
		{"tcp", ln.Addr().String(), true},
		{"tcp4", ln.Addr().String(), true},
		{"tcp", "127.0.0.1:0", true},
		{"tcp", "localhost:0", true},
		{"tcp", net.JoinHostPort("localhost", itoa(port)), true},
		{"tcp", ":0", false},           // wildcard wants an unspecified address
		{"tcp6", "127.0.0.1:0", false}, // family differs
		{"udp", "127.0.0.1:0", false},  // type differs
		{"tcp", "127.0.0.1:1", false},  // port differs
		{"tcp", "127.0.0.2:0", false},
		{"unix", "/tmp/x", false},
		{"tcp", "no port", false},
	} {
		if got := Match(d, c.network, c.addr); got != c.want {
			t.Errorf("Match(%s, %q, %q) = %v, want %v", d, c.network, c.addr, got, c.want)
		}
	}
}

func TestMatchWildcardAndUDPAndUnix(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if d := describe(t, ln.(*net.TCPListener)); !Match(d, "tcp", ":0") || !Match(d, "tcp", "[::]:0") || !Match(d, "tcp", "0.0.0.0:0") {
		t.Errorf("wildcard listener %s does not match wildcard requests", d)
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if d := describe(t, pc.(*net.UDPConn)); !Match(d, "udp", "127.0.0.1:0") || Match(d, "tcp", "127.0.0.1:0") {
		t.Errorf("udp socket %s matched wrongly", d)
	}

	path := filepath.Join(t.TempDir(), "s.sock")
	ul, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	d := describe(t, ul.(*net.UnixListener))
	if !Match(d, "unix", path) || Match(d, "unix", path+"x") || Match(d, "unixgram", path) {
		t.Errorf("unix socket %s matched wrongly", d)
	}
	if d.String() != "unix://"+path {
		t.Errorf("String = %q", d.String())
	}
}

func TestDescribeNonSocket(t *testing.T) {
	d, err := Describe(0)
	if err != nil {
		// stdin may be closed under some runners; that is not what we test.
		t.Skip(err)
	}
	_ = d
	f, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(f)
	if d, err := Describe(f); err != nil || d.IsSocket() {
		t.Fatalf("Describe(/dev/null) = %v, %v; want a non-socket", d, err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

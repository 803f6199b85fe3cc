package testserver

import (
	"net"
	"testing"
)

// FreeAddr asks the kernel for a free TCP port on 127.0.0.1 and returns
// host:port. The port is free when it returns; a test that binds it later
// races with anything else on the machine, and then fails loudly.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort is FreeAddr's port.
func FreePort(t testing.TB) int {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return a.Port
}

// FreeUDPAddr asks the kernel for a free UDP port on 127.0.0.1.
func FreeUDPAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

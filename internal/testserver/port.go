package testserver

import (
	"io"
	"net"
	"testing"
)

// FreeAddr asks the kernel for a free TCP port on 127.0.0.1 and returns
// host:port. The port is free when it returns; a test that binds it later
// races with anything else on the machine, and then fails loudly. Nothing
// listens there meanwhile: a dial is refused.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return free(t, "tcp")
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
	return free(t, "udp")
}

// free binds port 0 of 127.0.0.1 on network and closes it again.
func free(t testing.TB, network string) string {
	t.Helper()
	var c io.Closer
	var addr net.Addr
	var err error
	if network == "udp" {
		var pc net.PacketConn
		if pc, err = net.ListenPacket(network, "127.0.0.1:0"); err == nil {
			c, addr = pc, pc.LocalAddr()
		}
	} else {
		var ln net.Listener
		if ln, err = net.Listen(network, "127.0.0.1:0"); err == nil {
			c, addr = ln, ln.Addr()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	return addr.String()
}

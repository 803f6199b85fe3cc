package testserver

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// UDPPID asks the test server at addr which pid reads its UDP socket: it
// sends "pid?" and the server (testdata/many) answers with its pid, from
// whichever process read the datagram. It fails the test when no answer
// comes within 5 s.
func UDPPID(t testing.TB, addr string) int {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("pid?")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("UDP read from %s: %v", addr, err)
	}
	pid, _ := strconv.Atoi(string(buf[:n]))
	return pid
}

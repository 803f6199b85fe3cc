package main

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// UDP and unix sockets from --listen reach every generation: the worker
// finds them by address, and after an upgrade the new worker reads the same
// UDP socket and accepts on the same unix socket.
func TestUDPAndUnixListeners(t *testing.T) {
	udp := testserver.FreeUDPAddr(t)
	sock := filepath.Join(t.TempDir(), "app.sock")
	flags := append([]string{"--listen", "dns=udp://" + udp, "--listen", "sock=unix://" + sock}, fastFlags...)
	s := startSup(t, flags, bin.many, "-n", "1", "-addr", "ADDR", "-udp", udp, "-unix", sock)
	first := udpPID(t, udp)
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: exit %d:\n%s", code, out)
	}
	// Wait for the old worker to be gone: until then both read the shared
	// UDP socket, and either may answer.
	st := s.waitState(func(st control.Status) bool {
		pids := servingPIDs(st)
		if len(pids) != 1 || pids[0] == first {
			return false
		}
		for _, g := range st.Generations {
			if g.State == "draining" {
				return false
			}
		}
		return true
	}, 10*time.Second, "a new worker serving, the old one gone")
	if got := udpPID(t, udp); got != servingPIDs(st)[0] {
		t.Errorf("UDP answered by pid %d, want the new worker %d", got, servingPIDs(st)[0])
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("unix socket after the upgrade: %v", err)
	}
	c.Close()
	s.stop(t)
	s.assertNoneLeft(t)
}

// udpPID asks the many test server which pid reads the UDP socket; the
// answer comes back from whichever worker read the datagram.
func udpPID(t *testing.T, addr string) int {
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

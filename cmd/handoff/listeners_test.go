//go:build unix

package main

import (
	"net"
	"path/filepath"
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
	first := testserver.UDPPID(t, udp)
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
	if got := testserver.UDPPID(t, udp); got != servingPIDs(st)[0] {
		t.Errorf("UDP answered by pid %d, want the new worker %d", got, servingPIDs(st)[0])
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("unix socket after the upgrade: %v", err)
	}
	c.Close()
	s.stopClean(t)
}

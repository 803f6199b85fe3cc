//go:build linux

package handoff_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// TCP, UDP, a unix socket and a plain file all reach the next generation
// as the same open files (same socket inodes), not as new binds.
func TestEveryKindOfSocketIsHandedOver(t *testing.T) {
	dir := t.TempDir()
	udpAddr := testserver.FreeUDPAddr(t)
	sock := filepath.Join(dir, "app.sock")
	journal := filepath.Join(dir, "journal")
	s := startServer(t, "many", "-n", "1", "-udp", udpAddr, "-unix", sock, "-file", journal)
	first := s.cmd.Process.Pid
	before := socketInodes(t, first)

	second, status := s.upgrade(first)
	if second == first {
		t.Fatalf("upgrade failed: %s", status)
	}
	waitExit(t, first, 20*time.Second)
	after := socketInodes(t, second)
	for _, ino := range before {
		if !contains(after, ino) {
			t.Errorf("socket %s of generation 1 is not open in generation 2 (%v)", ino, after)
		}
	}
	if got := testserver.UDPPID(t, udpAddr); got != second {
		t.Errorf("UDP answered by pid %d, want %d", got, second)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Errorf("unix socket gone after the upgrade: %v", err)
	} else {
		c.Close()
	}
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if want := "generation 2 pid " + strconv.Itoa(second); !strings.Contains(string(b), want) {
		t.Errorf("journal file not passed on: %q lacks %q", b, want)
	}
}

// socketInodes lists "socket:[N]" targets of the process's descriptors that
// are bound sockets (inet, or unix with a path): a short-lived unbound
// socket, such as the one that just sent READY=1, is not one of them.
func socketInodes(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := testserver.FDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	bound := boundInodes(t)
	var out []string
	for _, target := range fds {
		if ino, ok := testserver.SocketInode(target); ok && bound[ino] && !contains(out, target) {
			out = append(out, target)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// boundInodes reads the kernel's socket tables: inet sockets, and unix
// sockets that have a path.
func boundInodes(t *testing.T) map[string]bool {
	t.Helper()
	bound := map[string]bool{}
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		for _, f := range testserver.NetTable(table) {
			if len(f) > 9 {
				bound[f[9]] = true
			}
		}
	}
	unixTable := testserver.NetTable("unix")
	if unixTable == nil {
		t.Fatal("cannot read /proc/net/unix")
	}
	for _, f := range unixTable {
		if len(f) > 7 {
			bound[f[6]] = true
		}
	}
	return bound
}

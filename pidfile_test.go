//go:build linux

package handoff_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The PID file names the serving generation; while the old one drains its
// pid is in PIDFile.oldbin, as with nginx; both are gone once their owners
// have exited.
func TestPIDFileFollowsTheServingGeneration(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "hello.pid")
	// A long probation keeps the old generation around to look at.
	s := startHello(t, "-pidfile", pidfile, "-probation", "3s")
	first := s.cmd.Process.Pid
	if got := readPid(t, pidfile); got != first {
		t.Fatalf("pid file holds %d, want %d", got, first)
	}
	second, status := s.upgrade(first)
	if second == first {
		t.Fatalf("upgrade failed: %s", status)
	}
	if got := readPid(t, pidfile); got != second {
		t.Errorf("after cutover the pid file holds %d, want the new generation %d", got, second)
	}
	if got := readPid(t, pidfile+".oldbin"); got != first {
		t.Errorf("while the old generation drains, .oldbin holds %d, want %d", got, first)
	}
	waitExit(t, first, 30*time.Second)
	if _, err := os.Stat(pidfile + ".oldbin"); !os.IsNotExist(err) {
		t.Errorf(".oldbin left after the old generation exited: %v", err)
	}
	if got := readPid(t, pidfile); got != second {
		t.Errorf("pid file holds %d after the old generation exited, want %d", got, second)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s holds %q", path, b)
	}
	return pid
}

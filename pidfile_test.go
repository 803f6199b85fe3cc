//go:build linux

package handoff_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The PID file names the serving generation; while the old one drains its
// pid is in PIDFile.oldbin, as with nginx; both are gone once their owners
// have exited.
func TestPIDFileFollowsTheServingGeneration(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "hello.pid")
	// A long probation keeps the old generation around to look at.
	s := startHello(t, "-pidfile", pidfile, "-probation", "3s")
	first := s.cmd.Process.Pid
	if got := testserver.ReadPID(t, pidfile); got != first {
		t.Fatalf("pid file holds %d, want %d", got, first)
	}
	second, status := s.upgrade(first)
	if second == first {
		t.Fatalf("upgrade failed: %s", status)
	}
	if got := testserver.ReadPID(t, pidfile); got != second {
		t.Errorf("after cutover the pid file holds %d, want the new generation %d", got, second)
	}
	if got := testserver.ReadPID(t, pidfile+".oldbin"); got != first {
		t.Errorf("while the old generation drains, .oldbin holds %d, want %d", got, first)
	}
	waitExit(t, first, 30*time.Second)
	if _, err := os.Stat(pidfile + ".oldbin"); !os.IsNotExist(err) {
		t.Errorf(".oldbin left after the old generation exited: %v", err)
	}
	if got := testserver.ReadPID(t, pidfile); got != second {
		t.Errorf("pid file holds %d after the old generation exited, want %d", got, second)
	}
}

// A new generation whose PID file cannot be written (the disk is full)
// never takes over: New fails before it accepts anything, the upgrade
// fails with that reason, and the serving generation stays serving and
// named in the PID file, so `kill -HUP $(cat pidfile)` still reaches it.
// Before the fix the new generation only logged the failure and took over
// unnamed; the old one then removed its own pid at Stop, leaving no PID
// file at all. Needs root (a tmpfs of its own), Linux.
func TestPIDFileOnAFullDisk_TheServingGenerationKeepsIt(t *testing.T) {
	dir := fullableDir(t)
	pidfile := filepath.Join(dir, "hello.pid")
	s := startHello(t, "-pidfile", pidfile)
	first := s.cmd.Process.Pid
	fillDisk(t, dir)

	if pid, status := s.upgrade(first); pid != first || !strings.Contains(status, "upgrade failed") {
		t.Fatalf("upgrade on a full disk: READY names pid %d (%q), want the serving %d and a failure", pid, status, first)
	}
	s.waitLog("no space left on device", 30*time.Second)
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, "no space left") {
			t.Logf("the operator sees: %s", line)
		}
	}
	if got := testserver.ReadPID(t, pidfile); got != first {
		t.Fatalf("pid file holds %d, want the serving generation %d", got, first)
	}
	if got := servedBy(t, s.addr); got != first {
		t.Fatalf("served by %d, want %d", got, first)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".hello.pid.*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary pid files left behind: %v", leftovers)
	}

	// Space again: the next upgrade takes over and is named.
	if err := os.Remove(filepath.Join(dir, "fill")); err != nil {
		t.Fatal(err)
	}
	second, status := s.upgrade(first)
	if second == first {
		t.Fatalf("upgrade once space is back failed: %s", status)
	}
	if got := testserver.ReadPID(t, pidfile); got != second {
		t.Fatalf("pid file holds %d, want the new generation %d", got, second)
	}
}

// fullableDir mounts a small tmpfs of the test's own (root only) and
// returns it; it is unmounted at cleanup.
func fullableDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs that can be filled")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fillDisk writes dir/fill until the file system has no space left.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return
		}
	}
}

//go:build unix

package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Directories left in /tmp by a process killed before it could remove them
// are removed by the next one; those of live processes, and anything that
// is not a directory of ours, are kept.
func TestCleanStaleDirs_RemovesOnlyThoseWhoseOwnerIsGone(t *testing.T) {
	prefix := fmt.Sprintf("handoff-stale-test-%d", time.Now().UnixNano())
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()

	tmp := os.TempDir()
	mk := func(pid int) string {
		d, err := os.MkdirTemp(tmp, prefix+"-"+strconv.Itoa(pid)+"-*")
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "n1.sock"), nil, 0o600)
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	stale, alive := mk(dead.Process.Pid), mk(live.Process.Pid)
	mine, err := MkdirOwned(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(mine) })
	// A symlink with a dead owner's name must not be followed or removed.
	target := t.TempDir()
	link := filepath.Join(tmp, prefix+"-"+strconv.Itoa(dead.Process.Pid)+"-link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(link) })

	removed := CleanStaleDirs(prefix)
	if !slices.Equal(removed, []string{stale}) {
		t.Errorf("removed %v, want only %s", removed, stale)
	}
	for _, keep := range []string{alive, mine, link, target} {
		if _, err := os.Lstat(keep); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
}

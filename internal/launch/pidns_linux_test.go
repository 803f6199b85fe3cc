package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A directory made in another pid namespace (a container or `unshare
// --pid` sharing /tmp) is never removed: its pid names a process there,
// which cannot be checked from here. Before the fix a supervisor started
// in a child pid namespace removed live supervisors' run directories.
func TestCleanStaleDirs_KeepsThoseOfAnotherPidNamespace(t *testing.T) {
	ours := pidNamespace()
	if ours == "" {
		t.Skip("no /proc/self/ns/pid")
	}
	prefix := "handoff-pidns-test-" + strconv.Itoa(os.Getpid())
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(dead.Process.Pid)
	mk := func(tag string) string {
		d, err := os.MkdirTemp("", prefix+"-"+pid+"-"+tag+"*")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	other := mk(nsTag + "1" + ours + "-") // another namespace's inode
	same := mk(nsTag + ours + "-")
	removed := CleanStaleDirs(prefix)
	if !slices.Equal(removed, []string{same}) {
		t.Errorf("removed %v, want only %s (same namespace, owner gone)", removed, same)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("the other namespace's directory was removed: %v", err)
	}
	mine, err := MkdirOwned(prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(mine)
	if want := prefix + "-" + strconv.Itoa(os.Getpid()) + "-" + nsTag + ours + "-"; !strings.HasPrefix(filepath.Base(mine), want) {
		t.Errorf("MkdirOwned made %s, want the prefix %s", filepath.Base(mine), want)
	}
}

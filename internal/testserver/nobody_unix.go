//go:build !windows

package testserver

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the uid, and gid, of "another local user" in the tests that
// start a process as someone else (they must run as root).
const Nobody = 65534

// AsNobody is the SysProcAttr that starts a process as Nobody.
func AsNobody() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
}

// CopyForNobody copies this test binary, as name, into a directory of its
// own that every user may enter and write in (removed at cleanup), and
// returns the directory and the copy: a binary Nobody may run, and a place
// where it may bind a socket. The test binary itself sits in a 0700
// directory Nobody cannot reach.
func CopyForNobody(t testing.TB, name string) (dir, exe string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "testserver-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe = filepath.Join(dir, name)
	Copy(t, self, exe)
	return dir, exe
}

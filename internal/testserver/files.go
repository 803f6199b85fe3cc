package testserver

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ReadPID returns the pid the PID file at path holds, failing the test if
// the file cannot be read or holds no number.
func ReadPID(t testing.TB, path string) int {
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

// Replace puts a hard link of from at to, aside first and then renamed
// over, as a deploy replaces a binary: the running one's inode is
// untouched. A link, not a copy: a file open for writing in the test
// process leaks into any child forked meanwhile (until its exec), and exec
// of that file then fails with ETXTBSY (golang/go#22315).
func Replace(t testing.TB, from, to string) {
	t.Helper()
	tmp := to + ".new"
	os.Remove(tmp)
	if err := os.Link(from, tmp); err != nil {
		t.Fatalf("link %s: %v", from, err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// WriteExecutable atomically replaces path with an executable holding
// content (written aside, renamed over).
func WriteExecutable(t testing.TB, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Copy puts a copy of from at to, as a new file (its own inode, mode 0755)
// written aside and renamed over: a deploy that replaces the binary with
// a new file, where Replace keeps the inode of from. The copy is closed
// before Copy returns, so no descriptor of it open for writing can leak
// into a child (see Replace).
func Copy(t testing.TB, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tmp := to + ".copy"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// PrivateSocketPath returns name in a fresh directory of mode 0700 (a
// takeover socket's, say) under the system's temporary directory, short
// enough for a unix socket address, which t.TempDir's long names may not
// be; the directory is removed at cleanup.
func PrivateSocketPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, name)
}

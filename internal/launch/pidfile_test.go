package launch

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPIDFile_WriteReadRemoveOnlyOurs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.pid")
	if err := WritePIDFile(path, 1234); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "1234\n" {
		t.Fatalf("pid file holds %q (%v), want \"1234\\n\"", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if got := ReadPIDFile(path); got != 1234 {
		t.Fatalf("ReadPIDFile = %d", got)
	}
	// A successor took the file over: it is not ours to remove.
	if err := WritePIDFile(path, 5678); err != nil {
		t.Fatal(err)
	}
	if RemovePIDFile(path, 1234) {
		t.Fatal("RemovePIDFile removed a file naming another pid")
	}
	if !RemovePIDFile(path, 5678) {
		t.Fatal("RemovePIDFile kept a file naming its pid")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pid file still there: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if ReadPIDFile(path) != 0 {
		t.Fatal("ReadPIDFile of a missing file is not 0")
	}
}

func TestPIDFile_FailureLeavesNothing(t *testing.T) {
	if err := WritePIDFile(filepath.Join(t.TempDir(), "missing", "app.pid"), 1); err == nil {
		t.Fatal("WritePIDFile into a missing directory succeeded")
	}
}

// A symlink planted where the PID file goes is replaced, never written
// through: the file it points to keeps its content.
func TestPIDFile_ReplacesASymlinkNeverWritesThroughIt(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app.pid")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := WritePIDFile(path, 1234); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep me\n" {
		t.Fatalf("the symlink's target was written through: %q", b)
	}
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the pid file is not a regular file: %v %v", fi.Mode(), err)
	}
	if got := ReadPIDFile(path); got != 1234 {
		t.Fatalf("ReadPIDFile = %d", got)
	}
}

// Prepare writes everything at once; Commit only renames, Abort leaves
// nothing behind.
func TestPendingPIDFile_CommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.pid")
	p, err := PreparePIDFile(path, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the pid file is in place before Commit: %v", err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	p.Abort() // after Commit: nothing
	if got := ReadPIDFile(path); got != 7 {
		t.Fatalf("after Commit the pid file holds %d", got)
	}
	q, err := PreparePIDFile(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	q.Abort()
	if err := q.Commit(); err != nil || ReadPIDFile(path) != 7 {
		t.Fatalf("Commit after Abort changed the pid file: %v, holds %d", err, ReadPIDFile(path))
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

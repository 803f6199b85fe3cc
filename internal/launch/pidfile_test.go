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

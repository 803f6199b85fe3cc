package demo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The build step finds the module from the working directory and says
// clearly when there is none.
func TestDemoBuild_FromTheModuleOnly(t *testing.T) {
	dir := t.TempDir()
	if err := buildDemo(dir, "./examples/hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello")); err != nil {
		t.Fatalf("no hello built: %v", err)
	}
	t.Chdir(t.TempDir())
	if _, err := moduleRoot(); err == nil || !strings.Contains(err.Error(), "not inside the handoff module") {
		t.Fatalf("outside the module: err %v", err)
	}
}

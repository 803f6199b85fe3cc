package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// built is the cache of Binary: one temporary directory for the whole test
// binary, one entry per binary name.
var built struct {
	mu   sync.Mutex
	dir  string
	bins map[string]*binary
}

type binary struct {
	once sync.Once
	key  string // package directory and flags: a second request must match
	path string
	err  error
}

// Binary builds the main package pkg (a directory, relative to the working
// directory, or an import path) with the extra go build flags, as name in
// Dir, once per test binary, and returns its path. Asking again for name
// with another package or other flags is an error: the binary is shared.
// Binary is safe for concurrent use; builds of different names run in
// parallel.
func Binary(name, pkg string, flags ...string) (string, error) {
	key := pkg
	if abs, err := filepath.Abs(pkg); err == nil && strings.HasPrefix(pkg, ".") {
		key = abs
	}
	key += "\x00" + strings.Join(flags, "\x00")
	b, dir, err := entry(name, key)
	if err != nil {
		return "", err
	}
	b.once.Do(func() {
		b.path = filepath.Join(dir, name)
		args := append(append([]string{"build", "-o", b.path}, flags...), pkg)
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	return b.path, b.err
}

// entry returns the cache entry for name, creating the directory first.
func entry(name, key string) (*binary, string, error) {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "handoff-test-bin-*")
		if err != nil {
			return nil, "", fmt.Errorf("build %s: %w", name, err)
		}
		// World-readable, so that a test can run a binary as another uid.
		os.Chmod(dir, 0o755)
		built.dir, built.bins = dir, map[string]*binary{}
	}
	b := built.bins[name]
	if b == nil {
		b = &binary{key: key}
		built.bins[name] = b
	}
	if b.key != key {
		return nil, "", fmt.Errorf("build %s: already built from another package or with other flags", name)
	}
	return b, built.dir, nil
}

// Build is Binary for a test, named after pkg's last element ("." is the
// test's own directory); it fails the test when the build fails.
func Build(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	abs, err := filepath.Abs(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return BuildAs(t, filepath.Base(abs), pkg, flags...)
}

// BuildAs is Binary for a test; it fails the test when the build fails.
func BuildAs(t testing.TB, name, pkg string, flags ...string) string {
	t.Helper()
	p, err := Binary(name, pkg, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Dir is the directory Binary builds into ("" before the first build).
func Dir() string {
	built.mu.Lock()
	defer built.mu.Unlock()
	return built.dir
}

// RaceFlags returns the go build flags that give a binary the race
// detector when the test binary has it ("go test -race"), so that the
// processes a test runs are checked too.
func RaceFlags() []string {
	if raceEnabled {
		return []string{"-race"}
	}
	return nil
}

// RaceEnabled reports whether the test binary runs with the race detector.
func RaceEnabled() bool { return raceEnabled }

// Main is a TestMain: it runs each setup (building binaries ahead, say),
// then the tests, removes what Binary built and exits with the tests'
// status; a failed setup exits 1 without running them.
func Main(m *testing.M, setup ...func() error) {
	os.Exit(run(m, setup))
}

func run(m *testing.M, setup []func() error) int {
	defer Cleanup()
	for _, s := range setup {
		if err := s(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// Cleanup removes what Binary built; Main calls it.
func Cleanup() {
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
		built.dir, built.bins = "", nil
	}
}

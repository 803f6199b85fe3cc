package handoff

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// writePIDFile replaces path atomically, so a reader never sees a partial or
// empty file: write a temporary file in the same directory, then rename.
func writePIDFile(path string, pid int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("handoff: pid file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := fmt.Fprintf(tmp, "%d\n", pid); err != nil {
		tmp.Close()
		return fmt.Errorf("handoff: pid file: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("handoff: pid file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("handoff: pid file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("handoff: pid file: %w", err)
	}
	return nil
}

// readPIDFile returns the pid in path, or 0.
func readPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
	return pid
}

// removeIfOurs removes path only if it still names this process: a successor
// may already have written its own pid there.
func removeIfOurs(path string) {
	if readPIDFile(path) == os.Getpid() {
		os.Remove(path)
	}
}

func (h *Handoff) removePIDFiles() {
	if h.opts.PIDFile == "" {
		return
	}
	removeIfOurs(h.opts.PIDFile)
	removeIfOurs(h.opts.PIDFile + ".oldbin")
}

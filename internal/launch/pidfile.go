package launch

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// WritePIDFile replaces path atomically with pid and a newline, mode 0644:
// it writes a temporary file in the same directory and renames it, so a
// reader sees the old content or the new, never a partial or empty file.
// On failure path is unchanged and no temporary file is left behind.
func WritePIDFile(path string, pid int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("handoff: pid file: %w", err)
	}
	_, werr := tmp.WriteString(strconv.Itoa(pid) + "\n")
	if werr == nil {
		werr = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("handoff: pid file: %w", werr)
	}
	return nil
}

// ReadPIDFile returns the pid in path, or 0 when it is missing or holds no
// number.
func ReadPIDFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
	return pid
}

// RemovePIDFile removes path only if it still names pid, and reports
// whether it did: a successor may already have written its own pid there,
// and that file is not ours to remove.
func RemovePIDFile(path string, pid int) bool {
	if pid <= 0 || ReadPIDFile(path) != pid {
		return false
	}
	return os.Remove(path) == nil
}

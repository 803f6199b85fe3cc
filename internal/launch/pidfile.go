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
	p, err := PreparePIDFile(path, pid)
	if err != nil {
		return err
	}
	return p.Commit()
}

// A PendingPIDFile is a pid file written in full beside its path, not yet
// in place. Preparing it early and committing it later moves every way a
// full or read-only disk can fail the write to the moment of Prepare: a
// rename needs no free space, so Commit fails only if the directory itself
// went away or was made read-only meanwhile.
type PendingPIDFile struct {
	tmp, path string
	done      bool
}

// PreparePIDFile writes pid and a newline, mode 0644, to a temporary file
// in path's directory. On failure nothing is left behind.
func PreparePIDFile(path string, pid int) (*PendingPIDFile, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("handoff: pid file: %w", err)
	}
	_, werr := tmp.WriteString(strconv.Itoa(pid) + "\n")
	if werr == nil {
		werr = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("handoff: pid file %s: %w", path, werr)
	}
	return &PendingPIDFile{tmp: tmp.Name(), path: path}, nil
}

// Commit renames the prepared file over its path. It may be called once;
// later calls, and calls after Abort, do nothing.
func (p *PendingPIDFile) Commit() error {
	if p == nil || p.done {
		return nil
	}
	p.done = true
	if err := os.Rename(p.tmp, p.path); err != nil {
		os.Remove(p.tmp)
		return fmt.Errorf("handoff: pid file: %w", err)
	}
	return nil
}

// Abort removes the prepared file unless it was committed.
func (p *PendingPIDFile) Abort() {
	if p == nil || p.done {
		return
	}
	p.done = true
	os.Remove(p.tmp)
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

//go:build unix

package launch

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func ownDir(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}

// processExists: kill(pid, 0) fails with ESRCH only when no process has
// the pid; EPERM means another user's process has it.
func processExists(pid int) bool {
	return unix.Kill(pid, 0) != unix.ESRCH
}

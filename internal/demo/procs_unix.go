//go:build !linux && !windows

package demo

import "syscall"

// childAttr puts a child in its own process group. There is no
// parent-death signal outside Linux: a demo killed with SIGKILL can leave
// its children running (Ctrl-C and SIGTERM are handled).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// processAlive reports whether pid exists; without /proc there is no cheap
// way to check which binary it runs, and the demo's pids are seconds old.
func processAlive(pid int, dir string) bool {
	return kill(pid, 0) == nil
}

// kill sends sig to pid.
func kill(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

//go:build !windows

package testserver

import "syscall"

// kill sends SIGKILL to pid.
func kill(pid int) { syscall.Kill(pid, syscall.SIGKILL) }

//go:build !windows

package bench

import (
	"os"
	"syscall"
)

// groupAttr starts the upgrade command in a process group of its own.
func groupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills the upgrade command and everything it started.
func killGroup(p *os.Process) { syscall.Kill(-p.Pid, syscall.SIGKILL) }

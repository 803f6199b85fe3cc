package bench

import (
	"os"
	"syscall"
)

// groupAttr: Windows has no process groups to kill at once; the command
// runs as a plain child.
func groupAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the upgrade command itself; on Windows what it started
// in the background is left running.
func killGroup(p *os.Process) { p.Kill() }

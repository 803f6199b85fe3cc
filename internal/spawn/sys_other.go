//go:build unix && !linux

package spawn

import "syscall"

// Only Linux has a parent-death signal; elsewhere c.DeathSignal is ignored.
func sysProcAttr(c Config) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: c.Setpgid}
}

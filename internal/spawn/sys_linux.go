package spawn

import "syscall"

func sysProcAttr(c Config) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: c.Setpgid, Pdeathsig: c.DeathSignal}
}

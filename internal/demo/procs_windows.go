package demo

import (
	"errors"
	"os"
	"syscall"
)

// childAttr: Windows has neither process groups as Unix has them nor a
// parent-death signal; a demo killed hard can leave its children running.
func childAttr() *syscall.SysProcAttr { return nil }

// processAlive reports whether pid exists.
func processAlive(pid int, dir string) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// kill ends pid: Windows delivers no other signal to another process, so
// every sig but 0 (the existence check) kills.
func kill(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	defer p.Release()
	if sig == 0 {
		return nil
	}
	if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

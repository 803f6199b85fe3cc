package demo

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// childAttr puts a child in its own process group and has the kernel kill
// it if the demo dies (Linux only: elsewhere a killed demo can leave it).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// processAlive reports whether pid runs and is not a zombie, and its
// executable lies in dir (a binary the demo built; "(deleted)" after a
// replacement still counts).
func processAlive(pid int, dir string) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(stat), ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return false
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		// Not ours to inspect (or gone): only a process we may signal
		// can be ours.
		return kill(pid, 0) == nil
	}
	return strings.HasPrefix(exe, dir+"/")
}

// kill sends sig to pid.
func kill(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

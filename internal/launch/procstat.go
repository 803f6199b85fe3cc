package launch

import (
	"bytes"
	"os"
	"strconv"
)

// ProcStat is what /proc/<pid>/stat says about a process.
type ProcStat struct {
	State   byte // 'R', 'S', 'Z' (exited, not yet reaped), ...
	PPID    int
	PGRP    int
	Session int
	// StartTime is when the process started, in clock ticks since boot:
	// with the pid, it names one process for its whole life, so a pid
	// reused by another process is told apart.
	StartTime uint64
}

// ReadProcStat reads /proc/<pid>/stat, and returns false when it cannot:
// the process is gone, or the system has no /proc (anything but Linux).
func ReadProcStat(pid int) (ProcStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ProcStat{}, false
	}
	// The command name, in parentheses, may itself contain spaces and
	// parentheses: the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcStat{}, false
	}
	f := bytes.Fields(b[i+1:]) // state ppid pgrp session ... starttime (field 22 of proc(5))
	if len(f) < 20 || len(f[0]) != 1 {
		return ProcStat{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	sid, err3 := strconv.Atoi(string(f[3]))
	start, err4 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return ProcStat{}, false
	}
	return ProcStat{State: f[0][0], PPID: ppid, PGRP: pgrp, Session: sid, StartTime: start}, true
}

// Zombie reports whether pid has exited but not been reaped yet: an old
// generation orphaned to an init that reaps lazily still answers kill(0).
// Without /proc it reports false.
func Zombie(pid int) bool {
	st, ok := ReadProcStat(pid)
	return ok && st.State == 'Z'
}

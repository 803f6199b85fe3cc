package supervisor

import (
	"bytes"
	"os"
	"strconv"
)

// Lineage answers "may this pid speak for worker root?": it may if it is
// root itself, a descendant of root, or a member of root's process group
// (every worker leads its own group; a descendant reparented to the
// supervisor after its parent died keeps the group). The verdict is
// "unknown" when the sender has already exited, which is common for
// systemd-notify run from a shell; the datagram arrived on the worker's own
// socket in a 0700 directory then, and is accepted.
type lineage int

const (
	lineageYes lineage = iota
	lineageNo
	lineageUnknown
)

func checkLineage(pid, root int) lineage {
	if pid == 0 {
		return lineageUnknown // no credentials (cannot happen with SO_PASSCRED)
	}
	for i := 0; i < 64; i++ {
		if pid == root {
			return lineageYes
		}
		ppid, pgrp, ok := procStat(pid)
		if !ok {
			return lineageUnknown
		}
		if pgrp == root {
			return lineageYes
		}
		if ppid <= 1 || ppid == os.Getpid() {
			return lineageNo
		}
		pid = ppid
	}
	return lineageNo
}

// procStat reads ppid and pgrp from /proc/<pid>/stat. The command name in
// parentheses may contain spaces and parentheses: parse after the last ')'.
func procStat(pid int) (ppid, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	return ppid, pgrp, err1 == nil && err2 == nil
}

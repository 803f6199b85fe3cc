package supervisor

import (
	"os"

	"github.com/handoff-go/handoff/internal/launch"
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
		st, ok := launch.ReadProcStat(pid)
		if !ok {
			return lineageUnknown
		}
		if st.PGRP == root {
			return lineageYes
		}
		if st.PPID <= 1 || st.PPID == os.Getpid() {
			return lineageNo
		}
		pid = st.PPID
	}
	return lineageNo
}

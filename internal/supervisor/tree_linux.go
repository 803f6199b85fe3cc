package supervisor

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/launch"
)

func procStat(pid int) (launch.ProcStat, bool) { return launch.ReadProcStat(pid) }

// identifyMain returns the identity of pid for a MAINPID= of worker root,
// and false unless it is a live descendant of root (or root itself).
func identifyMain(pid, root int) (procID, bool) {
	if pid <= 0 || (pid != root && checkLineage(pid, root) != lineageYes) {
		return procID{}, false
	}
	st, ok := launch.ReadProcStat(pid)
	if !ok || st.State == 'Z' {
		return procID{}, false
	}
	return procID{pid: pid, start: st.StartTime}, true
}

// sameProcess reports whether id still names the live process it named.
func sameProcess(id procID) bool {
	st, ok := launch.ReadProcStat(id.pid)
	return ok && st.State != 'Z' && st.StartTime == id.start
}

// sweepOrphans kills every child of the supervisor that it did not start
// itself: descendants of workers that outlived them and were reparented to
// us (we are a child subreaper), with their process groups. It runs when
// the last worker is gone, so that a stop leaves no process of the program
// behind.
func (s *Supervisor) sweepOrphans() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	me, mine := os.Getpid(), unix.Getpgrp()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == me {
			continue
		}
		st, ok := launch.ReadProcStat(pid)
		if !ok || st.PPID != me || st.State == 'Z' || s.spawner.isKnown(pid) {
			continue
		}
		s.log.Warn("handoff: killing a process a worker left behind", "pid", pid, "pgrp", st.PGRP)
		if st.PGRP != mine && st.PGRP > 1 {
			unix.Kill(-st.PGRP, unix.SIGKILL)
		}
		unix.Kill(pid, unix.SIGKILL)
	}
}

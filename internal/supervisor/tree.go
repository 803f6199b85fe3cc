//go:build unix

package supervisor

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Every process a worker started ends with it. A worker is the process the
// supervisor forked plus what it started: helpers in its process group
// (which it leads, see startWorker), and a daemonising child that named
// itself with MAINPID= (which may have left the group with setsid). When
// the worker exits, for whatever reason, or is killed at a deadline, all of
// them are killed too: a child that kept serving old code after its
// parent's exit, or after a stop, is a deploy that never happened and a
// port that is never freed.
//
// A MAINPID= is only believed for a live descendant of the worker (Linux:
// checked through /proc when the datagram arrives), and the process is
// named by its pid and its start time, checked again before every signal,
// so a pid reused by an unrelated process is never signalled (issue 12
// finding 4). Off Linux nothing can be verified, and MAINPID= is ignored.

// procID names one process for its whole life: its pid and start time.
type procID struct {
	pid   int
	start uint64
}

// endTree kills what is left of w's process tree: its process group and
// its verified main process (and that one's group if it leads one). It is
// called when the worker has exited and when it is killed.
func endTree(w *worker) {
	if w.gone {
		return
	}
	unix.Kill(-w.pid(), unix.SIGKILL) // ESRCH once the group is empty
	if mp, ok := w.liveMain(); ok {
		if st, ok := procStat(mp); ok && st.PGRP == mp && st.PGRP != w.pid() {
			unix.Kill(-mp, unix.SIGKILL)
		}
		unix.Kill(mp, unix.SIGKILL)
	}
}

// liveMain returns the worker's MAINPID= process when it names another
// process that is still the one that was announced.
func (w *worker) liveMain() (int, bool) {
	m := w.main
	if m.pid <= 0 || m.pid == w.pid() {
		return 0, false
	}
	return m.pid, sameProcess(m)
}

// signalMain sends sig to the worker's MAINPID= process, if it is still
// the one that was announced.
func (w *worker) signalMain(sig syscall.Signal) {
	if mp, ok := w.liveMain(); ok {
		unix.Kill(mp, sig)
	}
}

//go:build unix && !linux

package supervisor

type noStat struct{ PGRP int }

func procStat(int) (noStat, bool) { return noStat{}, false }

// identifyMain refuses every MAINPID= off Linux: without /proc nothing
// says the pid is a descendant of the worker, or still the same process
// later.
func identifyMain(pid, root int) (procID, bool) { return procID{}, false }

func sameProcess(procID) bool { return false }

// sweepOrphans does nothing off Linux: orphans go to init there.
func (s *Supervisor) sweepOrphans() {}

package supervisor

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The reaper collects zombies that nobody else waits for: orphaned
// descendants of workers, which the kernel hands to us because we are PID 1
// (in a container) or a child subreaper (PR_SET_CHILD_SUBREAPER, set here
// so that a worker's daemonised children cannot escape the supervisor).
//
// Why not one wait4(-1) loop that owns all waiting: spawn.Process and
// os/exec wait for their own children by pid (pidfd), and a wait4(-1) would
// steal those exit statuses, turning every crash report into ECHILD. So the
// reaper only *peeks* (waitid with WNOWAIT), reaps a zombie only when its
// pid is not a child the spawner started, and leaves known children to
// their waiters. A known zombie that hides the others from the peek is gone
// within microseconds (its waiter is already blocked on it), so the reaper
// simply looks again shortly.
func startReaper(sp *spawner, log *slog.Logger, stop <-chan struct{}) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		log.Warn("handoff: cannot become child subreaper; orphans of workers go to init", "err", err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		defer signal.Stop(sigs)
		retry := time.NewTimer(time.Hour)
		retry.Stop()
		for {
			select {
			case <-stop:
				return
			case <-sigs:
			case <-retry.C:
			}
			if reapOrphans(sp, log) {
				retry.Reset(10 * time.Millisecond)
			}
		}
	}()
}

// reapOrphans reaps every zombie that is not a known child, and reports
// whether a known zombie blocked the view (look again soon).
func reapOrphans(sp *spawner, log *slog.Logger) (blocked bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		pid := siginfoPID(&info)
		if err != nil || pid <= 0 {
			return false // ECHILD, or no zombie now
		}
		if sp.known[pid] {
			return true
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			return false
		}
		log.Debug("handoff: reaped orphan", "pid", pid, "status", ws.ExitStatus())
	}
}

// siginfoPID reads si_pid, which follows three int32s and, on 64-bit
// systems, the padding that aligns the union to 8 bytes.
func siginfoPID(info *unix.Siginfo) int {
	off := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), off)))
}

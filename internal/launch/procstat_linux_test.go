package launch

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadProcStat_Self(t *testing.T) {
	st, ok := ReadProcStat(os.Getpid())
	if !ok {
		t.Fatal("cannot read our own /proc/self/stat")
	}
	if st.PPID != os.Getppid() || st.PGRP != syscall.Getpgrp() || st.State == 'Z' {
		t.Fatalf("ReadProcStat = %+v; ppid %d, pgrp %d", st, os.Getppid(), syscall.Getpgrp())
	}
}

// An exited child not yet reaped still answers kill(0); Alive must not
// count it as a draining generation.
func TestAlive_SkipsZombies(t *testing.T) {
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer cmd.Wait()
	// Wait for the exit without reaping it (WNOWAIT): a zombie for sure.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if !Zombie(pid) {
		t.Fatalf("pid %d exited and is not reaped, but Zombie says no", pid)
	}
	if got := Alive([]int{os.Getpid(), pid, 0, -1}); !slices.Equal(got, []int{os.Getpid()}) {
		t.Fatalf("Alive = %v, want only this process %d", got, os.Getpid())
	}
}

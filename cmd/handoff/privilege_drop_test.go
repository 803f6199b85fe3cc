//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func needRootAndSetpriv(t *testing.T) string {
	t.Helper()
	needProc(t)
	if os.Getuid() != 0 {
		t.Skip("needs root to run a worker as another uid")
	}
	sp, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv")
	}
	return sp
}

// A worker that drops its privileges before it serves (setpriv, as gosu
// and su-exec do in containers) still reports READY=1, and upgrades work.
func TestWorkerDroppingPrivileges_CanNotify(t *testing.T) {
	sp := needRootAndSetpriv(t)
	s := startSup(t, fastFlags, sp, "--reuid=65534", "--regid=65534", "--clear-groups", bin.hello, "-addr", "ADDR")
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade of a worker that drops privileges: exit %d:\n%s", code, out)
	}
	pid := onlyServingPID(t, s)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !bytes.Contains(b, []byte("\nUid:\t65534")) {
		t.Errorf("worker %d does not run as uid 65534:\n%s", pid, b)
	}
	s.stopClean(t)
}

// The socket that lets such a worker notify does not let anyone else in:
// a process of another uid that is not a descendant of the worker is
// ignored.
func TestNotifyFromAnotherUIDOutsideTheWorker_Ignored(t *testing.T) {
	sp := needRootAndSetpriv(t)
	s, _, sock := neverReadyWorker(t, "foreign", "30s")
	// Another user who found the name: kept alive past its send, so its
	// lineage is known and clearly not the worker's.
	cmd := exec.Command(sp, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c",
		"systemd-notify --ready; sleep 2")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("foreign sender: %v: %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "ignored") {
		if time.Now().After(deadline) {
			t.Fatalf("the foreign notification was not reported as ignored:\n%s", s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	if st, err := s.status(); err != nil || st.State != "starting" {
		t.Errorf("after a foreign READY=1 the supervisor is %q (%v), want still starting", st.State, err)
	}
	s.term()
	s.exitCode(t, 20*time.Second, "supervisor still running after TERM")
}

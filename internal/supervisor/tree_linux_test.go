package supervisor

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/handoff-go/handoff/internal/spawn"
)

// MAINPID= names a live descendant or nothing, and the process it named is
// recognised by its start time: a pid reused by another process is not it.
func TestMainPID_LiveDescendantOnly_PidReuseDetected(t *testing.T) {
	// A stand-in worker with a child of its own.
	standIn := exec.Command("/bin/sh", "-c", "sleep 60 & echo $!; wait")
	out, err := standIn.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := standIn.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-standIn.Process.Pid, syscall.SIGKILL); standIn.Process.Kill(); standIn.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	childPID, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(childPID, syscall.SIGKILL)
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	me := standIn.Process.Pid

	id, ok := identifyMain(childPID, me)
	if !ok || id.pid != childPID || id.start == 0 {
		t.Fatalf("a live child of the worker: identifyMain = %+v, %v", id, ok)
	}
	if !sameProcess(id) {
		t.Errorf("the same live child is not recognised")
	}
	if _, ok := identifyMain(dead.Process.Pid, me); ok {
		t.Errorf("a pid with no process (%d) was accepted as MAINPID", dead.Process.Pid)
	}
	if _, ok := identifyMain(os.Getpid(), me); ok {
		t.Errorf("the supervisor itself, not a descendant, was accepted as MAINPID")
	}
	reused := procID{pid: id.pid, start: id.start + 1} // same pid, another process
	if sameProcess(reused) {
		t.Errorf("a pid now held by another process counts as the announced one")
	}
	w := &worker{proc: &spawn.Process{Pid: me}, main: reused, mainPID: reused.pid}
	if mp, ok := w.liveMain(); ok {
		t.Errorf("liveMain returned %d for a reused pid: it would be signalled", mp)
	}
	w.main = id
	if mp, ok := w.liveMain(); !ok || mp != id.pid {
		t.Errorf("liveMain = %d, %v for the announced live process %d", mp, ok, id.pid)
	}
}

package testserver

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Proc is a program whose every generation announces itself on stderr with
// a line that announce matches, the first submatch its address and the
// second its pid ("chat: listening on 127.0.0.1:4242 pid=99"). Its stderr,
// every generation's, is in Log; every generation announced is killed by
// pid at cleanup, except those seen to exit (WaitGone).
type Proc struct {
	Addr string // the first generation's address
	PID  int    // the first generation's pid
	Log  *Log
	PIDs *PIDs

	announce *regexp.Regexp
	exited   chan struct{} // closed when the first generation (our child) is reaped
	err      error         // its Wait's result, set before exited closes
}

// StartProc starts exe with args and the extra environment, waits (at most
// 20 s) for its first announcement and returns it.
func StartProc(t testing.TB, exe string, announce *regexp.Regexp, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr := StartPiped(t, cmd)
	p := &Proc{Log: NewLog(), announce: announce, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // safe even once reaped
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			t.Errorf("pid %d not reaped after SIGKILL", cmd.Process.Pid)
		}
		stderr.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", strings.Join(p.Log.Lines(), "\n"))
		}
	})
	// Registered after, so run before, the cleanup above: later
	// generations die first, then the first is reaped.
	p.PIDs = NewPIDs(t)
	p.PIDs.Add(cmd.Process.Pid)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := announce.FindStringSubmatch(line); m != nil {
				pid, _ := strconv.Atoi(m[2])
				p.PIDs.Add(pid)
			}
			p.Log.Add(line)
		}
	}()
	m := p.Log.NextPID(t, announce, 20*time.Second)
	p.Addr = m[1]
	p.PID, _ = strconv.Atoi(m[2])
	return p
}

// NextPID waits (at most d) for a generation that has not announced itself
// before, and returns its pid.
func (p *Proc) NextPID(t testing.TB, d time.Duration) int {
	t.Helper()
	pid, _ := strconv.Atoi(p.Log.NextPID(t, p.announce, d)[2])
	return pid
}

// WaitGone waits (at most d) for pid to exit, on a pidfd, and marks it gone.
func (p *Proc) WaitGone(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	WaitGone(t, p.PIDs, pid, d)
}

// FirstExit waits (at most d) for the first generation, the test's own
// child, to be reaped and returns its Wait error; it fails the test at d.
func (p *Proc) FirstExit(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(d):
		t.Fatalf("pid %d: no exit status within %v", p.PID, d)
		return nil
	}
}

//go:build linux

package handoff_test

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// systemd-socket-activate binds the socket and execs hello with LISTEN_FDS=1
// and LISTEN_PID set to hello's pid, as systemd does. hello must serve on
// that socket (it cannot bind it: the activator holds it), and must still
// upgrade itself with it.
func TestSystemdSocketActivation(t *testing.T) {
	activator, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "hello")
	testserver.Replace(t, filepath.Join(buildBinaries(t), "hello"), exe)
	addr := testserver.FreeAddr(t)
	cmd := exec.Command(activator, "-l", addr, exe, "-v", "-probation", "100ms", "-addr", addr)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := []int{cmd.Process.Pid}
	t.Cleanup(func() {
		// Every generation runs this test's own copy of hello: kill them
		// all by pid, including one the test never learned of.
		pids = append(pids, processesOf(exe)...)
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		cmd.Wait()
	})
	waitLine(t, lines, "Listening on", 10*time.Second)
	// systemd-socket-activate starts the program on the first connection.
	first := servedBy(t, addr)
	if first != cmd.Process.Pid {
		t.Fatalf("served by pid %d, want the activated process %d", first, cmd.Process.Pid)
	}
	// It answers before it declares itself serving (Serve starts serving,
	// then calls Ready); a SIGHUP before that is refused ("not serving
	// (starting)").
	waitLine(t, lines, "handoff: ready", 10*time.Second)
	testserver.Hangup(t, first)
	waitLine(t, lines, "upgrade: new generation ready", 20*time.Second)
	second := servedBy(t, addr)
	pids = append(pids, second)
	if second == first {
		// What the generations said meanwhile, for the failure message.
		var more []string
		for len(more) < 50 {
			select {
			case l, ok := <-lines:
				if !ok {
					break
				}
				more = append(more, l)
				continue
			case <-time.After(500 * time.Millisecond):
			}
			break
		}
		t.Fatalf("still served by %d after the upgrade; then:\n%s", first, strings.Join(more, "\n"))
	}
}

func waitLine(t *testing.T, lines <-chan string, want string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stderr closed before %q; saw:\n%s", want, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.Contains(l, want) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q within %v; saw:\n%s", want, d, strings.Join(seen, "\n"))
		}
	}
}

// After 100 upgrades a generation has exactly as many descriptors open as
// the second generation had: nothing leaks from one generation to the next.
func TestNoDescriptorLeakAcross100Upgrades(t *testing.T) {
	if testing.Short() {
		t.Skip("100 upgrades")
	}
	s := startHello(t, "-probation", "10ms")
	pid := s.cmd.Process.Pid
	var second int
	for i := 1; i <= 100; i++ {
		next, status := s.upgrade(pid)
		if next == pid {
			t.Fatalf("upgrade %d failed: %s", i, status)
		}
		waitExit(t, pid, 30*time.Second)
		pid = next
		if i == 1 {
			second = countFDs(t, pid)
		}
	}
	if last := countFDs(t, pid); last != second {
		t.Fatalf("generation 101 has %d fds open, generation 2 had %d:\n%v", last, second, listFDs(pid))
	}
	if got := servedBy(t, s.addr); got != pid {
		t.Fatalf("served by %d, want %d", got, pid)
	}
}

func countFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := testserver.FDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

func listFDs(pid int) map[int]string {
	fds, _ := testserver.FDs(pid)
	return fds
}

// processesOf lists the pids of running processes whose executable is exe.
func processesOf(exe string) []int {
	return testserver.Processes(func(pid int) bool { return testserver.Exe(pid) == exe })
}

package demo

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// procSet remembers every process the demo started or learned of (workers
// under the supervisor, generations of a self-upgrade), so that cleanup can
// kill each by pid on every path, Ctrl-C included. Later generations of a
// self-upgrade are children of earlier ones, not of the demo: killing the
// processes the demo started would leave them running.
type procSet struct {
	mu   sync.Mutex
	dir  string // the demo's temporary directory, holding every binary it runs
	pids map[int]bool
}

func newProcSet(dir string) *procSet { return &procSet{dir: dir, pids: map[int]bool{}} }

func (p *procSet) add(pid int) {
	if pid <= 0 {
		return
	}
	p.mu.Lock()
	p.pids[pid] = true
	p.mu.Unlock()
}

// alive lists the remembered processes that still run one of the demo's
// binaries (so that a pid reused by an unrelated process is left alone).
func (p *procSet) alive() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for pid := range p.pids {
		if processAlive(pid, p.dir) {
			out = append(out, pid)
		}
	}
	return out
}

// signal sends sig to every live remembered process.
func (p *procSet) signal(sig syscall.Signal) {
	for _, pid := range p.alive() {
		kill(pid, sig)
	}
}

// waitGone polls until no remembered process is alive or within passes; it
// reports whether they are all gone. The processes are not all our
// children, so there is nothing to wait on but their existence.
func (p *procSet) waitGone(within time.Duration) bool {
	deadline := time.Now().Add(within)
	for len(p.alive()) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// stop asks every process to finish with SIGTERM (which drains), and
// SIGKILLs whatever still runs after grace.
func (p *procSet) stop(grace time.Duration) {
	p.signal(syscall.SIGTERM)
	if !p.waitGone(grace) {
		p.signal(syscall.SIGKILL)
		p.waitGone(2 * time.Second)
	}
}

// child is a process the demo started itself.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and been reaped
	err    error         // Wait's result, set before exited closes
}

// startChild starts path with args and extra environment, output to out,
// remembered in procs. The child gets its own process group, so that a
// Ctrl-C in the terminal reaches only the demo, which then stops everything
// in order; and, on Linux, it dies with the demo if the demo is killed.
func startChild(procs *procSet, out io.Writer, env []string, path string, args ...string) (*child, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	procs.add(cmd.Process.Pid)
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// tailBuffer keeps the last bytes a child wrote, to show when it fails.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// ProcessAlive reports whether pid still runs one of the binaries in dir
// (on Linux; elsewhere, whether pid exists): what the demo's cleanup checks
// before it signals a pid, exported for the tests that check it left no
// process behind.
func ProcessAlive(pid int, dir string) bool { return processAlive(pid, dir) }

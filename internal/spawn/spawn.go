// Package spawn starts a generation: a child process that receives listening
// sockets at fds 3, 4, ... without ever switching them to blocking mode.
//
// os/exec and os.StartProcess call (*os.File).Fd() on every file they pass,
// and Fd() puts the descriptor into blocking mode. A dup shares its open file
// description, O_NONBLOCK included, so passing a dup of a live listener that
// way flips the parent's own listener to blocking and can hang its accept
// forever (golang/go#43894, tableflip#60). This package takes raw descriptors
// (callers dup them with F_DUPFD_CLOEXEC through SyscallConn().Control) and
// hands them to syscall.StartProcess, which never touches their flags.
package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Config describes one child.
type Config struct {
	Path string   // executable to run
	Args []string // argv, argv[0] included
	Env  []string
	Dir  string

	// Files are raw descriptors placed at 3, 4, ... in the child, in order.
	// They stay the caller's: Start neither closes nor changes them.
	Files []int

	// Stdout is the descriptor given to the child as fd 1; 0 means this
	// process's fd 1.
	Stdout int
	// Stderr, when set, receives everything the child writes to fd 2, line by
	// line, through a pipe; the last TailLines lines are kept for error
	// messages (Process.Tail). When nil the child shares this process's fd 2.
	Stderr    io.Writer
	TailLines int
	// PassStderr also places this process's real fd 2 after Files, so a child
	// whose fd 2 is the pipe can move it onto fd 2 once it no longer needs
	// the parent (see proto.EnvStderrFD). Start reports where it went.
	PassStderr bool

	// Setpgid puts the child in a process group of its own, so that a
	// terminal's Ctrl-C reaches only the parent, which decides what to do.
	Setpgid bool
	// DeathSignal is sent to the child when this process dies (Linux only:
	// PR_SET_PDEATHSIG; ignored elsewhere).
	DeathSignal syscall.Signal
}

// Process is a started child.
type Process struct {
	Pid int
	// StderrFD is the child's number for this process's fd 2 when
	// Config.PassStderr was set, else -1.
	StderrFD int

	proc  *os.Process
	done  chan struct{}
	state *os.ProcessState
	err   error
	tail  *tail
	piped chan struct{} // closed when the stderr pipe hit EOF
}

// Start starts the child. The error names the executable and the reason,
// for example "start /srv/app: no such file or directory".
func Start(c Config) (*Process, error) {
	if c.Path == "" {
		return nil, errors.New("start: no executable")
	}
	args := c.Args
	if len(args) == 0 {
		args = []string{c.Path}
	}
	stdout := c.Stdout
	if stdout == 0 {
		stdout = 1
	}
	files := []uintptr{uintptr(devNull()), uintptr(stdout), 2}
	p := &Process{StderrFD: -1, done: make(chan struct{}), piped: make(chan struct{})}

	var readEnd *os.File
	if c.Stderr != nil {
		// Fd() on our own pipe's write end is harmless: the child wants it
		// blocking, and nothing here shares its file description.
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("start %s: stderr pipe: %w", c.Path, err)
		}
		readEnd = r
		defer w.Close()
		files[2] = w.Fd()
	}
	for _, fd := range c.Files {
		files = append(files, uintptr(fd))
	}
	if c.PassStderr {
		p.StderrFD = len(files)
		files = append(files, 2)
	}
	attr := &syscall.ProcAttr{Dir: c.Dir, Env: c.Env, Files: files, Sys: sysProcAttr(c)}
	pid, _, err := syscall.StartProcess(c.Path, args, attr)
	if err != nil {
		if readEnd != nil {
			readEnd.Close()
		}
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	p.Pid = pid
	p.proc, err = os.FindProcess(pid)
	if err != nil { // cannot happen on unix, where FindProcess always succeeds
		return nil, fmt.Errorf("start %s: find pid %d: %w", c.Path, pid, err)
	}
	if readEnd != nil {
		p.tail = newTail(c.TailLines)
		go p.copyStderr(readEnd, c.Stderr)
	} else {
		close(p.piped)
	}
	go p.wait()
	return p, nil
}

// devNull is the children's stdin: a generation must not compete with its
// parent for a terminal, and a supervisor's stdin is nobody's input.
var devNull = sync.OnceValue(func() int {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0 // fall back to sharing our own stdin
	}
	return fd
})

func (p *Process) wait() {
	p.state, p.err = p.proc.Wait()
	close(p.done)
}

func (p *Process) copyStderr(r *os.File, w io.Writer) {
	defer close(p.piped)
	defer r.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			p.tail.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// Done is closed when the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// State returns the exit state once Done is closed, else nil.
func (p *Process) State() *os.ProcessState {
	if !p.Exited() {
		return nil
	}
	return p.state
}

// Signal sends sig to the child unless it has already been reaped.
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return os.ErrProcessDone
	}
	return p.proc.Signal(sig)
}

// Kill sends SIGKILL and waits until the child is reaped.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Tail returns the last lines the child wrote to its stderr pipe, waiting
// for the pipe to close if the child has exited, so that a crash's last words
// are not lost to a race between the reaper and the reader.
func (p *Process) Tail() string {
	if p.tail == nil {
		return ""
	}
	if p.Exited() {
		<-p.piped
	}
	return p.tail.String()
}

// Describe says how the child ended, with its last stderr lines, for error
// messages: "exit status 1; stderr: panic: boom".
func (p *Process) Describe() string {
	st := p.State()
	if st == nil {
		return "still running"
	}
	var b strings.Builder
	b.WriteString(st.String())
	if t := strings.TrimSpace(p.Tail()); t != "" {
		b.WriteString("; last stderr lines:\n")
		b.WriteString(t)
	}
	return b.String()
}

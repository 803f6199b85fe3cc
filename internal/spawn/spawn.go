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
//
// Unix only: on Windows, Start returns ErrNotSupported.
package spawn

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
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

// ErrNotSupported is returned by Start on systems that cannot pass
// descriptors to a child (Windows).
var ErrNotSupported = errors.New("spawn: not supported on this system")

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
	pipe  *os.File      // the stderr pipe's read end, nil without one (adopt.go)
}

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

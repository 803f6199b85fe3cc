//go:build unix

package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// A process that re-executes itself (the supervisor's self-upgrade) keeps
// its children: they are still children of the same pid, so the new binary
// waits for them as for its own (os.FindProcess opens a pidfd on Linux),
// and goes on reading their stderr pipes, whose read ends it inherited.

// DupStderr returns a close-on-exec duplicate of the read end of the
// child's stderr pipe, made without Fd() (which would switch the pipe to
// blocking mode under its reader), or -1 when the child has no pipe.
func (p *Process) DupStderr() (int, error) {
	if p.pipe == nil {
		return -1, nil
	}
	select {
	case <-p.piped:
		return -1, nil // the child closed it (a handoff program does, once ready)
	default:
	}
	rc, err := p.pipe.SyscallConn()
	if errors.Is(err, os.ErrClosed) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("spawn: dup stderr of %d: %w", p.Pid, err)
	}
	nfd, dupErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); errors.Is(err, os.ErrClosed) {
		return -1, nil
	} else if err != nil {
		return -1, fmt.Errorf("spawn: dup stderr of %d: %w", p.Pid, err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("spawn: dup stderr of %d: %w", p.Pid, dupErr)
	}
	return nfd, nil
}

// TailText returns the stderr lines kept so far without waiting for the
// pipe to close (Tail waits once the child has exited).
func (p *Process) TailText() string {
	if p.tail == nil {
		return ""
	}
	return p.tail.String()
}

// Adopted describes a child this process inherited from the binary it was
// before an exec.
type Adopted struct {
	Pid int
	// StderrFD is the inherited read end of the child's stderr pipe, or -1.
	// Adopt takes it over.
	StderrFD  int
	Stderr    io.Writer // where the pipe's lines go, as Config.Stderr
	TailLines int
	Tail      string // the lines kept before the exec
	// StderrPassed is the child's number for the parent's fd 2, or -1.
	StderrPassed int
	// Gone: the child is no longer ours (it was reaped before the exec,
	// and its pid may name another process now): the Process is Done at
	// once and never signals anything.
	Gone bool
}

// Adopt takes a child of this process back after an exec. A child that has
// exited meanwhile is still a zombie of ours and is reaped as usual; one
// already reaped (it exited in the instant before the exec) is Done at
// once, with no State.
func Adopt(a Adopted) (*Process, error) {
	p := &Process{Pid: a.Pid, StderrFD: a.StderrPassed, done: make(chan struct{}), piped: make(chan struct{})}
	if !a.Gone {
		proc, err := os.FindProcess(a.Pid)
		if err != nil {
			return nil, fmt.Errorf("spawn: adopt pid %d: %w", a.Pid, err)
		}
		p.proc = proc
	}
	if a.StderrFD >= 0 {
		unix.CloseOnExec(a.StderrFD)
		r := os.NewFile(uintptr(a.StderrFD), "stderr of "+fmt.Sprint(a.Pid))
		p.tail = newTail(a.TailLines)
		if a.Tail != "" {
			p.tail.Write([]byte(a.Tail + "\n"))
		}
		p.pipe = r
		w := a.Stderr
		if w == nil {
			w = io.Discard
		}
		go p.copyStderr(r, w)
	} else {
		close(p.piped)
	}
	if a.Gone {
		p.err = os.ErrProcessDone
		close(p.done)
	} else {
		go p.wait()
	}
	return p, nil
}

//go:build unix

package spawn

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

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
		p.pipe = readEnd
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

//go:build unix

package supervisor

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// executable is the program file of one generation. On Linux a binary is
// held open (see executable_linux.go), so that a rollback, or a crash
// restart, starts the exact bytes that generation started with even after
// the file on disk was replaced or deleted. A script (#!) and every program
// on other systems are kept by path only, and a restart runs whatever the
// path holds by then. For an interpreted program the bytes held are the
// interpreter's (python3), not those of the files it reads.
type executable struct {
	path string // as resolved by exec.LookPath, for messages and status
	held heldFile
	sum  string // SHA-256 (hex) as the pre-flight checks read it
}

// resolve looks the program up as a shell would, at the moment of the
// upgrade, and holds the file where the system allows. dir is the
// supervisor's private run directory (see hold).
func resolve(program, dir string) (*executable, error) {
	path, err := exec.LookPath(program)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", program, err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	held, err := hold(path, dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &executable{path: path, held: held}, nil
}

// target is what the LISTEN_PID shim execs.
func (e *executable) target() string {
	if t := e.held.target(); t != "" {
		return t
	}
	return e.path
}

func (e *executable) release() { e.held.close() }

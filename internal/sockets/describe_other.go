//go:build !unix

package sockets

import (
	"fmt"
	"runtime"
	"syscall"
)

// Describe returns an error wrapping ErrNotSupported.
func Describe(fd int) (Desc, error) {
	return Desc{}, fmt.Errorf("describe fd %d on %s: %w", fd, runtime.GOOS, ErrNotSupported)
}

// Dup returns an error wrapping ErrNotSupported: a Windows socket is a
// handle, not a descriptor a child could find at 3.
func Dup(syscall.RawConn) (int, error) {
	return -1, fmt.Errorf("dup on %s: %w", runtime.GOOS, ErrNotSupported)
}

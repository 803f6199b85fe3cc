//go:build unix

package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Dup returns a close-on-exec duplicate of the socket's descriptor, made
// without Fd() (which would switch the socket to blocking mode under the
// Receiver's reader): what a process that re-executes itself hands to its
// new binary, which takes it back with FromFD.
func (r *Receiver) Dup() (int, error) {
	rc, err := r.conn.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("sdnotify: dup: %w", err)
	}
	nfd, dupErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, fmt.Errorf("sdnotify: dup: %w", err)
	}
	if dupErr != nil {
		return -1, fmt.Errorf("sdnotify: dup: %w", dupErr)
	}
	return nfd, nil
}

// FromFD makes a Receiver of fd, a datagram socket bound to path that this
// process inherited (see Dup); it takes fd over (it is closed here, the
// Receiver keeps a duplicate of its own, close-on-exec). The socket keeps
// its options (SO_PASSCRED), and Close removes the file at path as for a
// Receiver made by Listen.
func FromFD(fd int, path string) (*Receiver, error) {
	f := os.NewFile(uintptr(fd), path)
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("sdnotify: adopt fd %d (%s): %w", fd, path, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("sdnotify: adopt fd %d (%s): not a unix socket", fd, path)
	}
	r := &Receiver{conn: uc, path: path, abstract: strings.HasPrefix(path, "@")}
	if !r.abstract {
		r.info, _ = os.Lstat(path)
	}
	return r, nil
}

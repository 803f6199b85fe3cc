//go:build unix

package supervisor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/handoff-go/handoff/internal/sockets"
)

// boundSocket is a socket the supervisor owns for its whole life. fd is a
// close-on-exec duplicate made without Fd(), so that passing it to children
// never flips the listener to blocking mode (golang/go#43894).
type boundSocket struct {
	spec   ListenSpec
	fd     int
	desc   string
	closer io.Closer
	unlink string // unixgram path to remove at close (net does not)
	// inherited: passed by socket activation (a socket unit, the fd
	// store); its activator keeps it, its path is not ours to remove.
	inherited bool
	stored    bool // handed to systemd's fd store
}

// inheritedSocket wraps a descriptor passed by socket activation that
// serves spec. fd is already close-on-exec; closing it at release leaves
// the activator's copy listening.
func inheritedSocket(spec ListenSpec, fd int, d sockets.Desc) *boundSocket {
	return &boundSocket{spec: spec, fd: fd, desc: d.String(), closer: nopCloser{}, inherited: true}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// bind binds spec. A unix socket file left by a dead process (nobody
// accepts on it) is removed first; a live one is an error, as is a port in
// use, both matching ErrConfig.
func bind(spec ListenSpec) (*boundSocket, error) {
	b := &boundSocket{spec: spec}
	if spec.Network == "unix" || spec.Network == "unixgram" {
		if err := removeStale(spec); err != nil {
			return nil, err
		}
	}
	var rc syscall.RawConn
	switch spec.Network {
	case "udp", "udp4", "udp6", "unixgram":
		pc, err := net.ListenPacket(spec.Network, spec.Address)
		if err != nil {
			return nil, bindError(spec, err)
		}
		b.closer = pc
		if spec.Network == "unixgram" {
			b.unlink = spec.Address
		}
		rc, err = pc.(syscall.Conn).SyscallConn()
		if err != nil {
			pc.Close()
			return nil, bindError(spec, err)
		}
	default:
		ln, err := net.Listen(spec.Network, spec.Address)
		if err != nil {
			return nil, bindError(spec, err)
		}
		b.closer = ln
		rc, err = ln.(syscall.Conn).SyscallConn()
		if err != nil {
			ln.Close()
			return nil, bindError(spec, err)
		}
	}
	fd, err := sockets.Dup(rc)
	if err != nil {
		b.closer.Close()
		return nil, bindError(spec, err)
	}
	b.fd = fd
	b.desc = spec.Network + "://" + spec.Address
	if d, err := sockets.Describe(fd); err == nil {
		b.desc = d.String()
	}
	return b, nil
}

func bindError(spec ListenSpec, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return configError("listen %s: address already in use (another process listens there)", spec)
	}
	return configError("listen %s: %v", spec, err)
}

func removeStale(spec ListenSpec) error {
	fi, err := os.Lstat(spec.Address)
	if err != nil {
		return nil
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return configError("listen %s: %s exists and is not a socket", spec, spec.Address)
	}
	if spec.Network == "unix" {
		if c, err := net.DialTimeout("unix", spec.Address, time.Second); err == nil {
			c.Close()
			return configError("listen %s: address already in use (a process accepts on %s)", spec, spec.Address)
		}
	}
	if err := os.Remove(spec.Address); err != nil {
		return configError("listen %s: remove stale socket: %v", spec, err)
	}
	return nil
}

func (b *boundSocket) close() {
	syscall.Close(b.fd)
	b.closer.Close()
	if b.unlink != "" {
		os.Remove(b.unlink)
	}
}

// String describes the socket for logs.
func (b *boundSocket) String() string { return fmt.Sprintf("%s=%s", b.spec.Name, b.desc) }

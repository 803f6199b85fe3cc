//go:build unix

package sockets

import (
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Describe asks the kernel about fd. A descriptor that is not a socket is
// described with Family 0 and no error.
func Describe(fd int) (Desc, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err == unix.ENOTSOCK {
		return Desc{}, nil
	}
	if err != nil {
		return Desc{}, fmt.Errorf("describe fd %d: %w", fd, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return Desc{}, fmt.Errorf("describe fd %d: getsockname: %w", fd, err)
	}
	d := Desc{Type: typ}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		d.Family, d.IP, d.Port = unix.AF_INET, net.IP(a.Addr[:]).To16(), a.Port
	case *unix.SockaddrInet6:
		d.Family, d.IP, d.Port = unix.AF_INET6, net.IP(a.Addr[:]), a.Port
	case *unix.SockaddrUnix:
		d.Family, d.Path = unix.AF_UNIX, a.Name
		if len(d.Path) > 0 && d.Path[0] == 0 {
			d.Path = "@" + d.Path[1:]
		}
	default:
		return Desc{}, fmt.Errorf("describe fd %d: unsupported address family %T", fd, sa)
	}
	return d, nil
}

// Dup duplicates the descriptor behind rc with F_DUPFD_CLOEXEC, without
// calling Fd() (which would switch the shared file description to blocking
// mode under the owner's feet).
func Dup(rc syscall.RawConn) (int, error) {
	newFD := -1
	var dupErr error
	err := rc.Control(func(fd uintptr) {
		newFD, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	return newFD, nil
}

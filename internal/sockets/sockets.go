// Package sockets describes inherited socket descriptors and matches them to
// the Listen calls that want them.
package sockets

import (
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Desc is what the kernel says about a descriptor.
type Desc struct {
	Family int // unix.AF_INET, AF_INET6, AF_UNIX; 0 for a non-socket
	Type   int // unix.SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
	IP     net.IP
	Port   int
	Path   string // AF_UNIX: the bound path, "@name" for the abstract namespace
}

// IsSocket reports whether the descriptor is a socket at all.
func (d Desc) IsSocket() bool { return d.Family != 0 }

// String renders d the way a person would write the address.
func (d Desc) String() string {
	switch d.Family {
	case unix.AF_INET, unix.AF_INET6:
		return typeName(d.Type, "tcp", "udp") + "://" + net.JoinHostPort(d.IP.String(), strconv.Itoa(d.Port))
	case unix.AF_UNIX:
		return typeName(d.Type, "unix", "unixgram") + "://" + d.Path
	}
	return "file"
}

func typeName(t int, stream, dgram string) string {
	switch t {
	case unix.SOCK_STREAM:
		return stream
	case unix.SOCK_DGRAM:
		return dgram
	case unix.SOCK_SEQPACKET:
		return "unixpacket"
	}
	return "socket"
}

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

// Match reports whether an inherited socket d can serve Listen(network,
// address). Wildcard hosts ("", "0.0.0.0", "::") match a socket bound to any
// unspecified address, "localhost" matches any loopback address, and port 0
// or an empty port matches any port: a generation that asked for ":0" got
// some port, and its successor asking for ":0" again wants that same socket
// (tableflip#46 is what happens otherwise).
func Match(d Desc, network, address string) bool {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		return matchInet(d, network, address)
	case "unix":
		return d.Family == unix.AF_UNIX && d.Type == unix.SOCK_STREAM && d.Path == address
	case "unixgram":
		return d.Family == unix.AF_UNIX && d.Type == unix.SOCK_DGRAM && d.Path == address
	case "unixpacket":
		return d.Family == unix.AF_UNIX && d.Type == unix.SOCK_SEQPACKET && d.Path == address
	}
	return false
}

func matchInet(d Desc, network, address string) bool {
	if d.Family != unix.AF_INET && d.Family != unix.AF_INET6 {
		return false
	}
	wantType := unix.SOCK_STREAM
	if network[0] == 'u' {
		wantType = unix.SOCK_DGRAM
	}
	if d.Type != wantType {
		return false
	}
	switch network[len(network)-1] {
	case '4':
		if d.IP.To4() == nil {
			return false
		}
	case '6':
		if d.Family != unix.AF_INET6 {
			return false
		}
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if port != "" && port != "0" {
		p, err := net.LookupPort(network, port)
		if err != nil || p != d.Port {
			return false
		}
	}
	switch host {
	case "", "0.0.0.0", "::":
		return d.IP.IsUnspecified()
	case "localhost":
		return d.IP.IsLoopback()
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.Equal(d.IP)
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return false
	}
	for _, ip := range ips {
		if ip.Equal(d.IP) {
			return true
		}
	}
	return false
}

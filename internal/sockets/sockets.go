// Package sockets describes inherited socket descriptors and matches them to
// the Listen calls that want them.
//
// Describe and Dup need unix descriptors; on Windows they return
// ErrNotSupported, while Desc and Match still work on a Desc built by hand.
package sockets

import (
	"errors"
	"net"
	"strconv"
	"syscall"
)

// ErrNotSupported is returned by Describe and Dup on systems where a
// socket is not a plain descriptor (Windows).
var ErrNotSupported = errors.New("sockets: not supported on this system")

// Desc is what the kernel says about a descriptor.
type Desc struct {
	Family int // AF_INET, AF_INET6, AF_UNIX, in this system's numbers; 0 for a non-socket
	Type   int // SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
	IP     net.IP
	Port   int
	Path   string // AF_UNIX: the bound path, "@name" for the abstract namespace
}

// IsSocket reports whether the descriptor is a socket at all.
func (d Desc) IsSocket() bool { return d.Family != 0 }

// String renders d the way a person would write the address.
func (d Desc) String() string {
	switch d.Family {
	case syscall.AF_INET, syscall.AF_INET6:
		return typeName(d.Type, "tcp", "udp") + "://" + net.JoinHostPort(d.IP.String(), strconv.Itoa(d.Port))
	case syscall.AF_UNIX:
		return typeName(d.Type, "unix", "unixgram") + "://" + d.Path
	}
	return "file"
}

func typeName(t int, stream, dgram string) string {
	switch t {
	case syscall.SOCK_STREAM:
		return stream
	case syscall.SOCK_DGRAM:
		return dgram
	case syscall.SOCK_SEQPACKET:
		return "unixpacket"
	}
	return "socket"
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
		return d.Family == syscall.AF_UNIX && d.Type == syscall.SOCK_STREAM && d.Path == address
	case "unixgram":
		return d.Family == syscall.AF_UNIX && d.Type == syscall.SOCK_DGRAM && d.Path == address
	case "unixpacket":
		return d.Family == syscall.AF_UNIX && d.Type == syscall.SOCK_SEQPACKET && d.Path == address
	}
	return false
}

func matchInet(d Desc, network, address string) bool {
	if d.Family != syscall.AF_INET && d.Family != syscall.AF_INET6 {
		return false
	}
	wantType := syscall.SOCK_STREAM
	if network[0] == 'u' {
		wantType = syscall.SOCK_DGRAM
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
		if d.Family != syscall.AF_INET6 {
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

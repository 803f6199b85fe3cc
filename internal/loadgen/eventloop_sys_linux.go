//go:build linux

package loadgen

import (
	"net"
	"net/netip"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls of the event loop, on non-blocking sockets it owns. They
// bypass net.Conn on purpose: that is the netpoller round trip per request
// the event loop exists to avoid.

// sockaddrOf returns the address to connect to, or false if addr is not an
// IP literal with a port. A host name keeps the goroutine engine, whose
// dialer resolves it for every connection and falls back from one address
// to the next, which a single pre-resolved address would not do.
func sockaddrOf(addr string) (sa unix.Sockaddr, family int, ok bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, 0, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return nil, 0, false
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return nil, 0, false
	}
	if ip.Is4() || ip.Is4In6() {
		return &unix.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()}, unix.AF_INET, true
	}
	return &unix.SockaddrInet6{Port: port, Addr: ip.As16()}, unix.AF_INET6, true
}

// dialStart creates a non-blocking socket and starts connecting it. On
// return either err is set (nothing is left open) or fd is connecting
// (inProgress) or connected.
func dialStart(sa unix.Sockaddr, family int) (fd int, inProgress bool, err error) {
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, false, err
	}
	// As net.Dial does: a request is one write and must not wait for the
	// previous segment's ACK.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	switch err = unix.Connect(fd, sa); err {
	case nil:
		return fd, false, nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		return fd, true, nil
	}
	unix.Close(fd)
	return -1, false, err
}

// connectError returns the error of a connect that epoll reported as
// finished with an error or hang-up, nil if it succeeded after all.
func connectError(fd int) error {
	e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if e != 0 {
		return unix.Errno(e)
	}
	return nil
}

// send, readSome and peerClosed are the per-request calls. They are made
// with RawSyscall, without telling the scheduler: on a non-blocking socket
// they return in microseconds, and entersyscall/exitsyscall around each was
// a measurable share of the loop's own CPU time.

// send writes b with one send(2). MSG_NOSIGNAL turns a write to a reset
// connection into EPIPE without raising SIGPIPE, which the runtime would
// otherwise have to field for every such failure.
func send(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// readSome reads into b with one read(2).
func readSome(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// peerClosed answers "did the peer close or reset this idle connection?"
// without waiting and without consuming anything: recv(MSG_PEEK|
// MSG_DONTWAIT) of one byte into scratch. Pending data or "would block"
// mean the connection is, as far as anyone can tell, still open.
func peerClosed(fd int, scratch *[1]byte) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&scratch[0])), 1,
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
		return n == 0 // 0 bytes: an orderly shutdown (EOF)
	case unix.EAGAIN, unix.EINTR:
		return false
	}
	return true // ECONNRESET and the like
}

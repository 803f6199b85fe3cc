//go:build unix

package loadgen

import (
	"net"
	"syscall"
)

// peeker answers "has the peer closed this idle connection?" without waiting
// and without consuming anything, by a non-blocking recv(MSG_PEEK) on the
// socket. A read deadline cannot do this: Go fails a read whose deadline has
// passed before even trying the socket.
type peeker struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // p.try, bound once so peeking allocates nothing
	n   int
	err error
	buf [1]byte
}

func (p *peeker) init(nc net.Conn) {
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			p.rc = rc
			p.fn = p.try
		}
	}
}

func (p *peeker) try(fd uintptr) bool {
	p.n, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true // never wait for readiness
}

// closed reports whether the connection is known to be closed or reset by
// the peer. Pending data or "would block" mean it is (as far as anyone can
// tell) still open.
func (p *peeker) closed() bool {
	if p.rc == nil {
		return false
	}
	if err := p.rc.Read(p.fn); err != nil {
		return true // the descriptor is unusable
	}
	switch {
	case p.n > 0:
		return false
	case p.err == nil:
		return true // orderly shutdown: EOF
	case p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK || p.err == syscall.EINTR:
		return false
	}
	return true // ECONNRESET and the like
}

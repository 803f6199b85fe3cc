//go:build linux || darwin || freebsd

package quicroute

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// linkSendBuffer is the SO_SNDBUF asked for on a link's sending end. A
// unix datagram socketpair is limited by the sender's buffer (Linux does
// not apply max_dgram_qlen to a connected pair), so this is how many bytes
// of forwarded datagrams may wait for a busy old generation before new
// ones are dropped (Stats.DroppedLinkFull). The kernel caps it at
// net.core.wmem_max (Linux) or kern.ipc.maxsockbuf (BSD).
const linkSendBuffer = 2 << 20

// newLink makes a forwarding link: a connected AF_UNIX SOCK_DGRAM pair.
// The receiving end becomes a *net.UnixConn (the inbox); the sending end
// is returned as a file, to be handed to successors.
func newLink() (inbox *net.UnixConn, out *os.File, err error) {
	// darwin has no SOCK_CLOEXEC for socketpair: take ForkLock as the
	// standard library does, so no concurrent exec inherits the pair.
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("quicroute: new link: socketpair: %w", err)
	}
	_ = unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_SNDBUF, linkSendBuffer)
	// The receiver's buffer is charged on BSDs; Linux ignores it for
	// unix datagram sockets.
	_ = unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_RCVBUF, linkSendBuffer)
	inf := os.NewFile(uintptr(fds[0]), "quicroute-inbox")
	c, err := net.FileConn(inf)
	inf.Close() // FileConn dups; close ours or it leaks
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("quicroute: new link: inbox: %w", err)
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "quicroute-link"), nil
}

// dupFile duplicates f with F_DUPFD_CLOEXEC through Control, never Fd(),
// so f stays in non-blocking mode (golang/go#43894).
func dupFile(f syscall.Conn, name string) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// route is the sending end of one older generation's link.
type route struct {
	gen  uint32
	file *os.File // kept for handing on to successors (dup'd by Links)
	conn *net.UnixConn
	raw  syscall.RawConn
}

func newRoute(gen uint32, f *os.File) (*route, error) {
	c, err := net.FileConn(f) // dups f; f stays ours, for Links
	if err != nil {
		return nil, fmt.Errorf("quicroute: add route for generation %d: %w", gen, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("quicroute: add route for generation %d: %T is not a unix socket", gen, c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("quicroute: add route for generation %d: %w", gen, err)
	}
	return &route{gen: gen, file: f, conn: uc, raw: raw}, nil
}

// send writes one frame without waiting: the reader that calls it serves
// the newest generation and must never stall behind an old one.
func (r *route) send(frame []byte) error {
	var werr error
	err := r.raw.Write(func(fd uintptr) bool {
		for {
			_, werr = unix.Write(int(fd), frame)
			if werr != unix.EINTR {
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	return werr
}

// gone reports whether a send error means the receiving generation has
// closed its link (exited), so the route should be removed.
func gone(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.EPIPE) ||
		errors.Is(err, unix.ENOTCONN) || errors.Is(err, net.ErrClosed)
}

func full(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS)
}

func (r *route) close() {
	r.conn.Close()
	r.file.Close()
}

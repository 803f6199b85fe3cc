package handoff

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// socket is a descriptor this generation owns and would pass to a
// successor, under its name.
//
// A listener costs one descriptor: the one inside the net.Listener, which
// the Handoff owns (the user gets a wrapper whose Close leaves it open), so
// ten thousand sockets fit under a 20,000 descriptor limit. A packet socket
// or file is the user's to close, so the Handoff keeps a duplicate of it
// (when it has a successor to pass it to: links.keep).
type socket struct {
	name string
	fd   int             // our own duplicate (packet sockets, files), FD_CLOEXEC; -1 for listeners and when nothing is kept
	rc   syscall.RawConn // the listener's descriptor, for listeners
	// unlinkPath is a unix socket path the handoff chain bound itself: the
	// last generation to stop without a successor removes it. Paths bound by
	// systemd or the supervisor are theirs to remove.
	unlinkPath string
	ln         *listener // nil for packet sockets and files
	inner      interface{ Close() error }
}

func (s *socket) stopAccepting() {
	if s.ln != nil {
		s.ln.Close()
	}
}

func (s *socket) pause() {
	if s.ln != nil {
		s.ln.pause()
	}
}

func (s *socket) resume() {
	if s.ln != nil {
		s.ln.resume()
	}
}

func listenerSocket(name string, inner net.Listener) (*socket, error) {
	sc, ok := inner.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no descriptor", inner)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &socket{name: name, fd: -1, rc: rc, inner: inner, ln: newListener(inner)}, nil
}

// rawFD returns the descriptor to pass to a successor. For a listener it is
// the net.Listener's own, valid as long as the socket is not closed: callers
// hold Handoff.fdMu for reading until they are done with it.
func (s *socket) rawFD() int {
	if s.rc == nil {
		return s.fd
	}
	fd := -1
	s.rc.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// close drops this generation's descriptors. Only the last holder of a
// socket closes it for real; a successor that received it keeps it open.
func (s *socket) close(last bool) {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.inner != nil {
		s.inner.Close()
	}
	if s.fd >= 0 {
		closeFD(s.fd)
		s.fd = -1
	}
	if last && s.unlinkPath != "" {
		os.Remove(s.unlinkPath)
	}
}

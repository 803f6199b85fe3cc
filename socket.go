package handoff

import (
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/sockets"
)

// inheritedFD is a descriptor received from the previous generation, systemd
// or the supervisor, waiting for the Listen call that claims it.
type inheritedFD struct {
	activation.Passed
	desc      sockets.Desc
	described bool
	claimed   bool
}

// socket is a descriptor this generation owns and would pass to a
// successor, under its name.
type socket struct {
	name string
	fd   int // our own copy, FD_CLOEXEC; the user's net.Listener has another
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
		unix.Close(s.fd)
		s.fd = -1
	}
	if last && s.unlinkPath != "" {
		os.Remove(s.unlinkPath)
	}
}

// fromFD builds a net.Listener, net.PacketConn or *os.File of our own from a
// descriptor we keep: dup it (the net package takes ownership of what it is
// given) so that both copies can be closed independently.
func dupFile(fd int, name string) (*os.File, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), name), nil
}

func listenerFromFD(fd int, name string) (net.Listener, error) {
	f, err := dupFile(fd, name)
	if err != nil {
		return nil, err
	}
	defer f.Close() // net.FileListener dups again
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	return ln, nil
}

func packetConnFromFD(fd int, name string) (net.PacketConn, error) {
	f, err := dupFile(fd, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FilePacketConn(f)
}

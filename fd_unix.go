//go:build !windows

package handoff

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

func closeFD(fd int) { unix.Close(fd) }

// dupFile builds an *os.File of our own from a descriptor we keep: dup it
// (the os and net packages take ownership of what they are given) so that
// both copies can be closed independently.
func dupFile(fd int, name string) (*os.File, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// listenerFromFD turns an inherited descriptor into a net.Listener, which
// takes a duplicate; the inherited one is closed, so the socket costs one
// descriptor from then on.
func listenerFromFD(fd int, name string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
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

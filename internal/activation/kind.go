package activation

import (
	"errors"
	"strings"
)

// Kind is what an inherited descriptor must be, as its name announces it.
type Kind int

const (
	// KindAny is a name that says nothing about the descriptor: one given by
	// systemd or a supervisor's --listen (a socket, FIFO or special file of
	// a socket unit), or a Handoff.File name (usually a regular file).
	KindAny Kind = iota
	// KindTCP: a listening AF_INET or AF_INET6 stream socket ("tcp|...").
	KindTCP
	// KindUDP: an AF_INET or AF_INET6 datagram socket ("udp|...").
	KindUDP
	// KindUnix: a listening AF_UNIX stream socket ("unix|...").
	KindUnix
	// KindUnixgram: an AF_UNIX datagram socket ("unixgram|...").
	KindUnixgram
	// KindUnixpacket: a listening AF_UNIX seqpacket socket ("unixpacket|...").
	KindUnixpacket
)

func (k Kind) String() string {
	switch k {
	case KindTCP:
		return "a listening TCP socket"
	case KindUDP:
		return "a UDP socket"
	case KindUnix:
		return "a listening unix stream socket"
	case KindUnixgram:
		return "a unix datagram socket"
	case KindUnixpacket:
		return "a listening unix seqpacket socket"
	}
	return "any descriptor"
}

// protocolKinds maps the network part of the names this library gives the
// sockets it binds ("tcp|127.0.0.1|8080", see the root's fdName) to the
// kind the descriptor must be.
var protocolKinds = map[string]Kind{
	"tcp": KindTCP, "tcp4": KindTCP, "tcp6": KindTCP,
	"udp": KindUDP, "udp4": KindUDP, "udp6": KindUDP,
	"unix": KindUnix, "unixgram": KindUnixgram, "unixpacket": KindUnixpacket,
}

// Expect returns the kind a LISTEN_FDNAMES entry announces: the network of
// a name this library wrote ("tcp|...", "unixgram|..."), KindAny for every
// other name.
func Expect(name string) Kind {
	network, _, ok := strings.Cut(name, "|")
	if !ok {
		return KindAny
	}
	return protocolKinds[network]
}

// ErrNotInherited reports a descriptor announced by LISTEN_FDS that this
// process must neither use nor close: it is not open, this process opened
// it itself (close-on-exec is set: it did not come through exec), or it is
// not what its name announces.
var ErrNotInherited = errors.New("not an inherited descriptor")

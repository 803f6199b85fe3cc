//go:build unix

package activation

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Inherited is a descriptor that passed Check, and what it is.
type Inherited struct {
	Passed
	Kind   Kind
	Socket bool // false: a file, FIFO or device (Kind is then KindAny)
	dev    uint64
	ino    uint64
}

// Check tells whether p, announced by LISTEN_FDS, may be adopted (and, if
// nothing claims it, closed) by this process. It must run before the caller
// sets close-on-exec on p.FD. It returns an error wrapping ErrNotInherited,
// naming the fd and the reason, when the descriptor
//   - is not open (LISTEN_FDS counts more fds than were passed);
//   - has close-on-exec set: it did not survive an exec, so this process
//     (the Go runtime, a library, package initialisation) opened it after
//     the activator handed over, and the activator's fd is not there;
//   - is not the kind its name announces (Expect): a "tcp|..." name must be
//     a listening AF_INET/AF_INET6 stream socket, and so on.
//
// A name that announces nothing (KindAny) accepts any open descriptor
// without close-on-exec. Check never closes nor changes the descriptor.
func Check(p Passed) (Inherited, error) {
	in := Inherited{Passed: p, Kind: Expect(p.Name)}
	flags, err := unix.FcntlInt(uintptr(p.FD), unix.F_GETFD, 0)
	if err != nil {
		return in, fmt.Errorf("%w: fd %d (%s): %v: fewer descriptors were passed than LISTEN_FDS says", ErrNotInherited, p.FD, p.Name, err)
	}
	if flags&unix.FD_CLOEXEC != 0 {
		return in, fmt.Errorf("%w: fd %d (%s) has close-on-exec set: this process opened it, it was not passed", ErrNotInherited, p.FD, p.Name)
	}
	var st unix.Stat_t
	if err := unix.Fstat(p.FD, &st); err != nil {
		return in, fmt.Errorf("%w: fd %d (%s): fstat: %v", ErrNotInherited, p.FD, p.Name, err)
	}
	in.dev, in.ino = uint64(st.Dev), uint64(st.Ino)
	in.Socket = st.Mode&unix.S_IFMT == unix.S_IFSOCK
	if in.Kind == KindAny {
		return in, nil
	}
	if !in.Socket {
		return in, fmt.Errorf("%w: fd %d (%s) is not a socket; its name announces %v", ErrNotInherited, p.FD, p.Name, in.Kind)
	}
	if got, err := socketKind(p.FD); err != nil {
		return in, fmt.Errorf("%w: fd %d (%s): %v", ErrNotInherited, p.FD, p.Name, err)
	} else if got == KindAny {
		return in, fmt.Errorf("%w: fd %d (%s) is a socket of another kind (not listening, or another family); its name announces %v", ErrNotInherited, p.FD, p.Name, in.Kind)
	} else if got != in.Kind {
		return in, fmt.Errorf("%w: fd %d (%s) is %v; its name announces %v", ErrNotInherited, p.FD, p.Name, got, in.Kind)
	}
	return in, nil
}

// Same reports whether in.FD still refers to the open file Check saw: the
// caller checks it right before closing a descriptor nobody claimed, so a
// number that was closed and reused in between is never closed.
func (in Inherited) Same() bool {
	var st unix.Stat_t
	if unix.Fstat(in.FD, &st) != nil {
		return false
	}
	return uint64(st.Dev) == in.dev && uint64(st.Ino) == in.ino
}

// socketKind says what kind of socket fd is, KindAny for one this library
// never names (a connected stream socket, another family).
func socketKind(fd int) (Kind, error) {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return KindAny, fmt.Errorf("SO_TYPE: %w", err)
	}
	inet, local := false, false
	switch sa, err := unix.Getsockname(fd); {
	case errors.Is(err, unix.EAFNOSUPPORT):
		return KindAny, nil // a family x/sys does not decode: not one of ours
	case err != nil:
		return KindAny, fmt.Errorf("getsockname: %w", err)
	default:
		switch sa.(type) {
		case *unix.SockaddrInet4, *unix.SockaddrInet6:
			inet = true
		case *unix.SockaddrUnix:
			local = true
		}
	}
	listening := false
	if typ == unix.SOCK_STREAM || typ == unix.SOCK_SEQPACKET {
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if err != nil {
			return KindAny, fmt.Errorf("SO_ACCEPTCONN: %w", err)
		}
		listening = v != 0
	}
	switch {
	case inet && typ == unix.SOCK_STREAM && listening:
		return KindTCP, nil
	case inet && typ == unix.SOCK_DGRAM:
		return KindUDP, nil
	case local && typ == unix.SOCK_STREAM && listening:
		return KindUnix, nil
	case local && typ == unix.SOCK_DGRAM:
		return KindUnixgram, nil
	case local && typ == unix.SOCK_SEQPACKET && listening:
		return KindUnixpacket, nil
	}
	return KindAny, nil
}

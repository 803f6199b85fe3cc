package handoff

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
)

// Listen returns a listener for network ("tcp", "tcp4", "tcp6", "unix",
// "unixpacket") and address, as net.Listen does. If this process inherited a
// matching socket it is used, and no bind happens: the kernel's accept queue
// is shared with the previous generation, so no connection is refused or lost
// while processes change hands. Otherwise a fresh socket is bound (always,
// on Windows).
//
// An inherited socket matches by name first (the one this library gives it,
// or a name the supervisor or systemd gave that equals address), then by
// family, type and bound address: "" and "0.0.0.0" match a wildcard socket,
// "localhost" any loopback address, and port 0 any port, so a server that
// asked for ":0" gets the same socket in its next generation.
//
// Unix socket paths: a stale socket file nobody listens on is removed before
// binding; a path with a live listener fails with "address already in use".
// The path stays while generations hand it on, and the last generation to stop
// without a successor removes it (unless systemd or the supervisor bound it:
// then it is theirs).
//
// The listener stops accepting while a successor is in probation and for
// good when this generation drains; its Close does not close the socket.
// Another network fails with ErrNotSupported; after Stop, Listen fails
// with ErrStopped.
func (h *Handoff) Listen(network, address string) (net.Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix", "unixpacket":
	default:
		return nil, fmt.Errorf("handoff: listen %s %s: %w: unknown network (use ListenPacket for datagrams)", network, address, ErrNotSupported)
	}
	name := fdName(network, address)
	if h.links != nil {
		s, err := h.links.inheritListener(name, network, address)
		if err != nil {
			return nil, fmt.Errorf("handoff: listen %s %s: %w", network, address, err)
		}
		if s != nil {
			if network == "unix" && strings.HasPrefix(s.name, "unix|") {
				s.unlinkPath = address
			}
			return h.add(s)
		}
	}

	if network == "unix" {
		if err := removeStaleUnixSocket(address); err != nil {
			return nil, fmt.Errorf("handoff: listen %s %s: %w", network, address, err)
		}
	}
	inner, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("handoff: listen %s %s: %w", network, address, err)
	}
	s, err := listenerSocket(name, inner)
	if err != nil {
		inner.Close()
		return nil, fmt.Errorf("handoff: listen %s %s: %w", network, address, err)
	}
	if ul, ok := inner.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
		s.unlinkPath = address
	}
	// The name is the request ("tcp|:0"); a successor asking the same
	// finds it by name, and one asking for the now-known port by address.
	return h.add(s)
}

// ListenPacket returns a packet socket ("udp", "udp4", "udp6", "unixgram")
// as net.ListenPacket does, inherited when one matches (see Listen). A
// datagram socket cannot be paused: during probation both generations read
// from the same socket, and each datagram is read by exactly one of them.
// Close the returned conn when Draining is closed.
func (h *Handoff) ListenPacket(network, address string) (net.PacketConn, error) {
	switch network {
	case "udp", "udp4", "udp6", "unixgram":
	default:
		return nil, fmt.Errorf("handoff: listen packet %s %s: %w: unknown network", network, address, ErrNotSupported)
	}
	name := fdName(network, address)
	if h.links != nil {
		s, pc, err := h.links.inheritPacket(name, network, address)
		if err != nil {
			return nil, fmt.Errorf("handoff: listen packet %s %s: %w", network, address, err)
		}
		if s != nil {
			if network == "unixgram" && strings.HasPrefix(s.name, "unixgram|") {
				s.unlinkPath = address
			}
			if _, err := h.add(s); err != nil {
				pc.Close()
				return nil, err
			}
			return pc, nil
		}
	}
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, fmt.Errorf("handoff: listen packet %s %s: %w", network, address, err)
	}
	s := &socket{name: name, fd: -1}
	if _, ok := pc.(*net.UnixConn); ok {
		s.unlinkPath = address
	}
	if h.links != nil {
		if s.fd, err = h.links.keep(pc.(syscall.Conn)); err != nil {
			pc.Close()
			return nil, fmt.Errorf("handoff: listen packet %s %s: %w", network, address, err)
		}
	}
	if _, err := h.add(s); err != nil {
		pc.Close()
		return nil, err
	}
	return pc, nil
}

// File passes any other descriptor on under name: it returns the inherited
// file of that name, or calls open and keeps a duplicate to pass to a
// successor. A duplicate shares the file offset with the original. A name
// LISTEN_FDNAMES cannot carry (empty, over 255 bytes, a ':' or a control
// character) fails with ErrBadName.
func (h *Handoff) File(name string, open func() (*os.File, error)) (*os.File, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("handoff: file %q: %w", name, err)
	}
	if h.links != nil {
		s, f, err := h.links.inheritFile(name)
		if err != nil {
			return nil, fmt.Errorf("handoff: file %q: %w", name, err)
		}
		if s != nil {
			if _, err := h.add(s); err != nil {
				f.Close()
				return nil, err
			}
			return f, nil
		}
	}
	f, err := open()
	if err != nil {
		return nil, fmt.Errorf("handoff: file %q: open: %w", name, err)
	}
	s := &socket{name: name, fd: -1}
	if h.links != nil {
		if s.fd, err = h.links.keep(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("handoff: file %q: %w", name, err)
		}
	}
	if _, err := h.add(s); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// add registers a socket as this generation's, in the state the phase
// calls for. It fails after Stop.
func (h *Handoff) add(s *socket) (net.Listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.phase {
	case PhaseStopped:
		s.close(false)
		return nil, ErrStopped
	case PhaseDraining:
		s.stopAccepting()
	case PhaseProbation:
		s.pause()
	}
	h.sockets = append(h.sockets, s)
	if s.ln == nil {
		return nil, nil
	}
	return s.ln, nil
}

// maxNameLen is the longest name LISTEN_FDNAMES carries (systemd's limit).
const maxNameLen = 255

// validName checks a LISTEN_FDNAMES entry: 1 to 255 printable ASCII
// characters, no ':' (the separator).
func validName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: %q: length must be 1 to %d", ErrBadName, name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f || c == ':' {
			return fmt.Errorf("%w: %q: character %q at %d", ErrBadName, name, c, i)
		}
	}
	return nil
}

// fdName is the LISTEN_FDNAMES entry this library gives a socket it binds:
// readable, without the ':' systemd reserves as separator.
func fdName(network, address string) string {
	n := network + "|" + strings.ReplaceAll(address, ":", "|")
	if validName(n) == nil {
		return n
	}
	sum := sha256.Sum256([]byte(address))
	return network + "|" + hex.EncodeToString(sum[:8])
}

// removeStaleUnixSocket removes a socket file left by a process that died
// without removing it, and refuses a path someone still listens on.
func removeStaleUnixSocket(path string) error {
	if strings.HasPrefix(path, "@") {
		return nil // abstract: nothing on disk
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: %w", path, fs.ErrExist)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: %w (another process listens on it)", path, syscall.EADDRINUSE)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: check for a stale socket: %w", path, err)
	}
	return os.Remove(path)
}

package handoff

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/sockets"
)

// Listen returns a listener for network ("tcp", "tcp4", "tcp6", "unix",
// "unixpacket") and address, as net.Listen does. If this process inherited a
// matching socket it is used, and no bind happens: the kernel's accept queue
// is shared with the previous generation, so no connection is refused or lost
// while processes change hands. Otherwise a fresh socket is bound.
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
func (h *Handoff) Listen(network, address string) (net.Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix", "unixpacket":
	default:
		return nil, fmt.Errorf("handoff: listen %s %s: unsupported network (use ListenPacket for datagrams)", network, address)
	}
	name := fdName(network, address)
	if in := h.claim(name, network, address); in != nil {
		inner, err := listenerFromFD(in.FD, name)
		if err != nil {
			return nil, fmt.Errorf("handoff: listen %s %s: inherited fd %d (%s): %w", network, address, in.FD, in.Name, err)
		}
		s, err := listenerSocket(in.Name, inner)
		if err != nil {
			inner.Close()
			return nil, fmt.Errorf("handoff: listen %s %s: %w", network, address, err)
		}
		if network == "unix" && strings.HasPrefix(in.Name, "unix|") {
			s.unlinkPath = address
		}
		h.log.Debug("handoff: listen: inherited", "network", network, "address", address, "fd", in.FD, "name", in.Name)
		return h.add(s, inner.Addr())
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
	return h.add(s, inner.Addr())
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
		return nil, fmt.Errorf("handoff: listen packet %s %s: unsupported network", network, address)
	}
	name := fdName(network, address)
	if in := h.claim(name, network, address); in != nil {
		pc, err := packetConnFromFD(in.FD, name)
		if err != nil {
			return nil, fmt.Errorf("handoff: listen packet %s %s: inherited fd %d: %w", network, address, in.FD, err)
		}
		s := &socket{name: in.Name, fd: in.FD}
		if network == "unixgram" && strings.HasPrefix(in.Name, "unixgram|") {
			s.unlinkPath = address
		}
		if _, err := h.add(s, pc.LocalAddr()); err != nil {
			pc.Close()
			return nil, err
		}
		return pc, nil
	}
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, fmt.Errorf("handoff: listen packet %s %s: %w", network, address, err)
	}
	s := &socket{name: name}
	if _, ok := pc.(*net.UnixConn); ok {
		s.unlinkPath = address
	}
	if s.fd, err = dupConn(pc.(syscall.Conn)); err != nil {
		pc.Close()
		return nil, fmt.Errorf("handoff: listen packet %s %s: %w", network, address, err)
	}
	if _, err := h.add(s, pc.LocalAddr()); err != nil {
		pc.Close()
		return nil, err
	}
	return pc, nil
}

// File passes any other descriptor on under name: it returns the inherited
// file of that name, or calls open and keeps a duplicate to pass to a
// successor. A duplicate shares the file offset with the original.
func (h *Handoff) File(name string, open func() (*os.File, error)) (*os.File, error) {
	if err := activation.ValidName(name); err != nil {
		return nil, fmt.Errorf("handoff: file %q: %w", name, err)
	}
	h.mu.Lock()
	var found *inheritedFD
	for _, in := range h.inherited {
		if !in.claimed && in.Name == name {
			in.claimed, found = true, in
			break
		}
	}
	h.mu.Unlock()
	if found != nil {
		f, err := dupFile(found.FD, name)
		if err != nil {
			return nil, fmt.Errorf("handoff: file %q: inherited fd %d: %w", name, found.FD, err)
		}
		h.add(&socket{name: name, fd: found.FD}, nil)
		return f, nil
	}
	f, err := open()
	if err != nil {
		return nil, fmt.Errorf("handoff: file %q: open: %w", name, err)
	}
	fd, err := dupConn(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("handoff: file %q: %w", name, err)
	}
	if _, err := h.add(&socket{name: name, fd: fd}, nil); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// add registers a socket as this generation's. It fails after Stop.
func (h *Handoff) add(s *socket, addr net.Addr) (net.Listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.phase == Stopped {
		s.close(false)
		return nil, ErrStopped
	}
	if h.phase == Draining {
		s.stopAccepting()
	} else if h.phase == Probation {
		s.pause()
	}
	h.sockets = append(h.sockets, s)
	if s.ln == nil {
		return nil, nil
	}
	return s.ln, nil
}

// claim finds the inherited descriptor for a Listen call: by name, then by
// what the kernel says the socket is.
func (h *Handoff) claim(name, network, address string) *inheritedFD {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byName == nil {
		// Indexed once: a server with thousands of sockets makes thousands
		// of Listen calls, and a scan per call would be quadratic.
		h.byName = make(map[string][]*inheritedFD)
		for _, in := range h.inherited {
			h.byName[in.Name] = append(h.byName[in.Name], in)
		}
	}
	for _, key := range []string{name, address} {
		list := h.byName[key]
		for len(list) > 0 && list[0].claimed {
			list = list[1:]
		}
		h.byName[key] = list
		if len(list) > 0 {
			list[0].claimed = true
			return list[0]
		}
	}
	for h.scanFrom < len(h.inherited) && h.inherited[h.scanFrom].claimed {
		h.scanFrom++
	}
	for _, in := range h.inherited[h.scanFrom:] {
		if in.claimed {
			continue
		}
		if !in.described {
			d, err := sockets.Describe(in.FD)
			if err != nil {
				h.log.Warn("handoff: inherited fd unusable", "fd", in.FD, "name", in.Name, "err", err)
			}
			in.desc, in.described = d, true
		}
		if sockets.Match(in.desc, network, address) {
			in.claimed = true
			return in
		}
	}
	return nil
}

// fdName is the LISTEN_FDNAMES entry this library gives a socket it binds:
// readable, without the ':' systemd reserves as separator.
func fdName(network, address string) string {
	n := network + "|" + strings.ReplaceAll(address, ":", "|")
	if activation.ValidName(n) == nil {
		return n
	}
	sum := sha256.Sum256([]byte(address))
	return network + "|" + hex.EncodeToString(sum[:8])
}

// dupConn keeps a descriptor of our own for c's socket, without Fd().
func dupConn(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	return sockets.Dup(rc)
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
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	c, err := net.Dial("unix", path)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: %w (another process listens on it)", path, unix.EADDRINUSE)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("%s: check for a stale socket: %w", path, err)
	}
	return os.Remove(path)
}

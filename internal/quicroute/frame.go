package quicroute

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// FrameVersion is the version of the forwarding frame written by this
// build (see the package documentation, "Forwarding frames").
const FrameVersion = 1

const (
	frameFixed = 10 // version, addr len, port, zone, control len
	// MaxControl is the most control-message bytes a frame carries; quic-go
	// reads at most 128.
	MaxControl = 512
	// MaxFrame bounds a frame: the header with an IPv6 address, MaxControl
	// and a 64 KiB datagram.
	MaxFrame = frameFixed + 16 + MaxControl + 1<<16
)

// appendFrame appends the forwarding frame for one datagram to dst.
func appendFrame(dst []byte, from *net.UDPAddr, control, datagram []byte) ([]byte, error) {
	if len(control) > MaxControl {
		control = nil // ECN and packet info are a hint; never refuse the datagram for them
	}
	ip := from.IP
	alen := byte(16)
	if v4 := ip.To4(); v4 != nil {
		ip, alen = v4, 4
	} else if len(ip) != net.IPv6len {
		return dst, fmt.Errorf("%w: address %v", ErrFrame, from)
	}
	var zone uint32
	if from.Zone != "" {
		if ifi, err := net.InterfaceByName(from.Zone); err == nil {
			zone = uint32(ifi.Index)
		}
	}
	var h [frameFixed]byte
	h[0] = FrameVersion
	h[1] = alen
	binary.BigEndian.PutUint16(h[2:4], uint16(from.Port))
	binary.BigEndian.PutUint32(h[4:8], zone)
	binary.BigEndian.PutUint16(h[8:10], uint16(len(control)))
	dst = append(dst, h[:]...)
	dst = append(dst, ip...)
	dst = append(dst, control...)
	return append(dst, datagram...), nil
}

// parsedFrame is one decoded forwarding frame; its slices alias the frame.
type parsedFrame struct {
	addr     netip.AddrPort
	zone     uint32
	control  []byte
	datagram []byte
}

// parseFrame decodes a forwarding frame, refusing unknown versions and
// inconsistent lengths with ErrFrame.
func parseFrame(b []byte) (parsedFrame, error) {
	if len(b) < frameFixed {
		return parsedFrame{}, fmt.Errorf("%w: %d bytes", ErrFrame, len(b))
	}
	if b[0] != FrameVersion {
		return parsedFrame{}, fmt.Errorf("%w: version %d, want %d", ErrFrame, b[0], FrameVersion)
	}
	alen := int(b[1])
	if alen != 4 && alen != 16 {
		return parsedFrame{}, fmt.Errorf("%w: address length %d", ErrFrame, alen)
	}
	port := binary.BigEndian.Uint16(b[2:4])
	zone := binary.BigEndian.Uint32(b[4:8])
	clen := int(binary.BigEndian.Uint16(b[8:10]))
	if clen > MaxControl || len(b) < frameFixed+alen+clen {
		return parsedFrame{}, fmt.Errorf("%w: control length %d in %d bytes", ErrFrame, clen, len(b))
	}
	a, _ := netip.AddrFromSlice(b[frameFixed : frameFixed+alen])
	off := frameFixed + alen
	return parsedFrame{
		addr:     netip.AddrPortFrom(a, port),
		zone:     zone,
		control:  b[off : off+clen],
		datagram: b[off+clen:],
	}, nil
}

// udpAddr converts a frame's source back to the *net.UDPAddr quic-go
// writes its replies to.
func (f parsedFrame) udpAddr() *net.UDPAddr {
	a := &net.UDPAddr{IP: f.addr.Addr().AsSlice(), Port: int(f.addr.Port())}
	if f.zone != 0 {
		if ifi, err := net.InterfaceByIndex(int(f.zone)); err == nil {
			a.Zone = ifi.Name
		}
	}
	return a
}

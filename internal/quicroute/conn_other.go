//go:build !linux && !darwin && !freebsd

package quicroute

import (
	"context"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"
)

// Conn is the routing net.PacketConn (see the linux, darwin and freebsd
// build). On this platform there are no unix datagram socketpairs to
// forward on, so New returns ErrUnsupported and a caller serves QUIC
// without routing (old connections of a draining generation then lose
// their datagrams at cutover, as with quic-go alone).
type Conn struct{}

// Config configures a Conn.
type Config struct {
	Codec      *Codec
	Generation uint32
	Active     bool
}

// New returns ErrUnsupported on this platform.
func New(udp *net.UDPConn, cfg Config) (*Conn, error) { return nil, ErrUnsupported }

// Generation returns 0 on this platform.
func (c *Conn) Generation() uint32 { return 0 }

// Stats returns zero counters on this platform.
func (c *Conn) Stats() Stats { return Stats{} }

// Start returns ErrUnsupported on this platform.
func (c *Conn) Start() error { return ErrUnsupported }

// SetCodec returns ErrUnsupported on this platform.
func (c *Conn) SetCodec(codec *Codec) error { return ErrUnsupported }

// Generator returns nil on this platform.
func (c *Conn) Generator() quic.ConnectionIDGenerator { return nil }

// Stop returns ErrUnsupported on this platform.
func (c *Conn) Stop(ctx context.Context) error { return ErrUnsupported }

// Resume returns ErrUnsupported on this platform.
func (c *Conn) Resume() error { return ErrUnsupported }

// AddRoute closes link and returns ErrUnsupported on this platform.
func (c *Conn) AddRoute(gen uint32, link *os.File) error {
	link.Close()
	return ErrUnsupported
}

// AddRouteConn closes link and returns ErrUnsupported on this platform.
func (c *Conn) AddRouteConn(gen uint32, link *net.UnixConn) error {
	link.Close()
	return ErrUnsupported
}

// RemoveRoute does nothing on this platform.
func (c *Conn) RemoveRoute(gen uint32) {}

// Links returns ErrUnsupported on this platform.
func (c *Conn) Links() ([]Link, error) { return nil, ErrUnsupported }

// Close does nothing on this platform.
func (c *Conn) Close() error { return nil }

// ReadBatch returns ErrUnsupported on this platform.
func (c *Conn) ReadBatch(ms []ipv4.Message, flags int) (int, error) { return 0, ErrUnsupported }

// ReadFrom returns ErrUnsupported on this platform.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) { return 0, nil, ErrUnsupported }

// ReadMsgUDP returns ErrUnsupported on this platform.
func (c *Conn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	return 0, 0, 0, nil, ErrUnsupported
}

// WriteTo returns ErrUnsupported on this platform.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) { return 0, ErrUnsupported }

// WriteMsgUDP returns ErrUnsupported on this platform.
func (c *Conn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	return 0, 0, ErrUnsupported
}

// LocalAddr returns nil on this platform.
func (c *Conn) LocalAddr() net.Addr { return nil }

// SetDeadline returns ErrUnsupported on this platform.
func (c *Conn) SetDeadline(t time.Time) error { return ErrUnsupported }

// SetReadDeadline returns ErrUnsupported on this platform.
func (c *Conn) SetReadDeadline(t time.Time) error { return ErrUnsupported }

// SetWriteDeadline returns ErrUnsupported on this platform.
func (c *Conn) SetWriteDeadline(t time.Time) error { return ErrUnsupported }

// SyscallConn returns ErrUnsupported on this platform.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return nil, ErrUnsupported }

// SetReadBuffer returns ErrUnsupported on this platform.
func (c *Conn) SetReadBuffer(n int) error { return ErrUnsupported }

// SetWriteBuffer returns ErrUnsupported on this platform.
func (c *Conn) SetWriteBuffer(n int) error { return ErrUnsupported }

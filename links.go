package handoff

import (
	"context"
	"net"
	"os"
	"syscall"
)

// links connect this generation to the others in its handoff chain: the
// sockets and the handover channel it inherited from its predecessor, the
// upgrades that start its successor and the channel offered to it, and the
// service manager (systemd, the supervisor) it reports to. The Unix
// implementation is chain (chain.go).
//
// A Handoff without links (h.links == nil) is a process alone: it binds
// fresh sockets, inherits nothing, passes nothing on, and Upgrade returns
// ErrNotSupported. That is the Windows build, always, and the same code
// runs on every platform when nothing is linked (the tests drive it on
// Linux through newPlain).
type links interface {
	// supervised reports whether the handoff supervisor runs this process.
	supervised() bool
	// generation is this process's generation number.
	generation() int

	// inheritListener, inheritPacket and inheritFile return the inherited
	// descriptor a Listen, ListenPacket or File call claims, made into a
	// socket of this generation, or a nil socket when none matches.
	inheritListener(name, network, address string) (*socket, error)
	inheritPacket(name, network, address string) (*socket, net.PacketConn, error)
	inheritFile(name string) (*socket, *os.File, error)
	// keep duplicates the descriptor of a freshly opened packet socket or
	// file, to pass to a successor: the caller's copy is the caller's to
	// close.
	keep(c syscall.Conn) (int, error)

	// ready runs in Ready once the phase is PhaseServing: it closes the
	// inherited descriptors nobody claimed, connects the predecessor's
	// handover channel and tells whoever waits that this generation is
	// ready.
	ready() []error
	// upgrade runs Handoff.UpgradeReport.
	upgrade() (UpgradeReport, error)
	// notifyUpstream sends sd_notify assignments to the service manager
	// (systemd, or the supervisor), if there is one; failures are logged.
	notifyUpstream(assignments ...string)
	// parentDeathEcho reports, for a stop signal that arrives during the
	// drain, that it is the supervisor's parent-death signal again (the
	// supervisor is gone or going), not a second stop (signals.go).
	parentDeathEcho() bool
	// stop runs in Stop after the sockets were closed; superseded says a
	// successor took them over.
	stop(superseded bool)

	// takeHTTP makes l the listener that accepts the HTTP connections the
	// predecessor passes for l's address.
	takeHTTP(l *listener)
	// successor returns the channel to the generation that took over,
	// waiting for it within ctx, or nil when there is none.
	successor(ctx context.Context) passer
	// inheritedConns is Handoff.InheritedConns.
	inheritedConns() <-chan Conn
	// state is Handoff.State, past the checks for misuse.
	state(ctx context.Context) (*State, error)
}

// passer sends live connections to the successor, in order, and reports
// how many it took; what it could not send stays the caller's.
type passer interface {
	pass(ctx context.Context, conns []outgoing) (int, error)
	// alive reports whether the channel may still carry connections; false
	// is final.
	alive() bool
}

// outgoing is one connection on its way to the successor.
type outgoing struct {
	sock     movable
	buffered []byte
	meta     []byte // tagged: metaHTTP or metaUser first
}

// movable is a connection with its socket underneath, which can be passed
// to another process.
type movable interface {
	syscall.Conn
	Close() error
}

// Tags that open the metadata of each connection on the channel, so the
// new generation knows who takes it.
const (
	metaHTTP = 'h' // followed by the listener's address: an HTTP/1.1 connection for Serve
	metaUser = 'u' // followed by the program's metadata: for InheritedConns
)

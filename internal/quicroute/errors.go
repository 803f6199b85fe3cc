package quicroute

import "errors"

// Sentinels callers branch on. Every error this package returns wraps one
// of these or an error from the operating system.
var (
	// ErrNotOurs means a datagram parsed as QUIC but its destination
	// connection ID was not made by any Codec with this key: a client's
	// own Initial DCID, another server's CID, or noise.
	ErrNotOurs = errors.New("quicroute: connection id not ours")
	// ErrUnparseable means the datagram is too short or malformed to hold
	// a destination connection ID, or is not QUIC at all.
	ErrUnparseable = errors.New("quicroute: datagram not parseable")
	// ErrUnsupported is returned by the routing Conn on platforms without
	// unix datagram sockets (windows and anything but linux, darwin,
	// freebsd).
	ErrUnsupported = errors.New("quicroute: routing not supported on this platform")
	// ErrClosed is returned by a Conn's methods after Close.
	ErrClosed = errors.New("quicroute: conn closed")
	// ErrFrame means a forwarded frame on a link is malformed or of an
	// unknown version.
	ErrFrame = errors.New("quicroute: bad forwarded frame")
)

package handover

import "errors"

// Errors callers branch on with errors.Is. Every error this package returns
// wraps one of these or a system error and names the operation that failed.
var (
	// ErrVersion: the two generations share no protocol version. Nothing was
	// handed over.
	ErrVersion = errors.New("handover: no common protocol version")
	// ErrProtocol: the peer sent something this build cannot accept (an
	// unknown frame type, a malformed payload, a frame out of order). The
	// channel is dead; descriptors that came with the offending frame were
	// closed.
	ErrProtocol = errors.New("handover: protocol error")
	// ErrFrameTooLarge: a frame header announced more than MaxPayload bytes.
	// It is refused before anything is allocated. Also wraps ErrProtocol.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrPeer: the process at the other end of the socket is not one this
	// side accepts (another uid, or not the expected pid).
	ErrPeer = errors.New("handover: peer refused")
	// ErrAborted: the other side aborted the transfer, or closed the channel
	// before finishing it. The error carries its reason when it gave one.
	ErrAborted = errors.New("handover: aborted by peer")
	// ErrRefused: the receiver refused a state blob. The error carries its
	// reason.
	ErrRefused = errors.New("handover: state refused")
	// ErrNotServed: the receiver could not serve a frame of connections (a
	// descriptor it could not make a connection of, say at EMFILE, or one
	// its Admit check refused) and refused it before confirming it. The
	// sender keeps them (it sees ErrAborted with this reason).
	ErrNotServed = errors.New("handover: connections refused: this side cannot serve them")
	// ErrChecksum: a state blob arrived corrupt (length or SHA-256 differ
	// from what the sender computed).
	ErrChecksum = errors.New("handover: state checksum mismatch")
	// ErrStateCancelled: the sender stopped a state blob before its end
	// (its source failed, or the receiver refused it early).
	ErrStateCancelled = errors.New("handover: state cancelled by sender")
	// ErrUnconfirmed: connections were written to the channel but the
	// receiver never confirmed them (the context expired or the channel
	// broke while waiting). They were closed on this side: nobody may own
	// them, which is better than two owners.
	ErrUnconfirmed = errors.New("handover: connections sent but not confirmed")
	// ErrClosed: the Sender, Receiver or Listener was closed.
	ErrClosed = errors.New("handover: closed")
	// ErrNotInVersion: the protocol version the two ends negotiated has no
	// such frame (counters need version 2). Nothing was sent; the channel
	// stays usable.
	ErrNotInVersion = errors.New("handover: not in the negotiated protocol version")
	// ErrUnsupported: this operating system lacks what the operation needs.
	ErrUnsupported = errors.New("handover: not supported on this OS")
)

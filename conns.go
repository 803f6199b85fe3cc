package handoff

import (
	"context"
	"fmt"
	"net"

	"github.com/handoff-go/handoff/internal/handover"
)

// A Conn is a live connection passed between generations, for protocols
// the library does not know (see HandOver and HandedOver).
type Conn struct {
	// Conn is the connection. On the sending side it must be a
	// *net.TCPConn or *net.UnixConn (anything with the socket underneath:
	// a syscall.Conn); TLS connections cannot move, their session keys
	// stay in this process.
	net.Conn
	// Buffered holds bytes the old generation read from Conn but did not
	// process (what a bufio.Reader held). The new generation must consume
	// them before reading from Conn. At most 512 KiB.
	Buffered []byte
	// Meta is the program's own, opaque to handoff: a session id, the
	// protocol state, where the conversation was. At most 64 KiB.
	Meta []byte
}

// HandOver passes connections to the generation that took over from this
// one, so their clients stay connected through the upgrade: the new
// generation receives them, in order, from HandedOver. Call it once
// Draining is closed (after an upgrade: the successor passed probation;
// under the supervisor: the supervisor asked this worker to drain), for
// connections on which this process has stopped reading and writing.
//
// It returns how many connections moved, from the first. Those are closed
// in this process, by dropping its descriptor only (no shutdown, no
// reset): the socket lives on in the new generation and the client sees
// nothing. The rest are still the caller's, to serve to the end or close.
//
// Errors: ErrNoSuccessor (no generation took over, or it did not connect
// its channel: this is also what a plain stop returns), ErrNotMovable for a
// connection without a socket underneath (nothing is passed then), or the
// channel's failure. ctx bounds the wait for each batch's acknowledgement;
// a batch whose acknowledgement does not come in time is counted as moved
// and closed here (the new generation may have it: never two owners).
//
// Requires the new generation to be a handoff program that reads
// HandedOver (a connection it does not take is closed).
func (h *Handoff) HandOver(ctx context.Context, conns ...Conn) (int, error) {
	hc := make([]handover.Conn, len(conns))
	for i, c := range conns {
		sock, ok := c.Conn.(handover.Socket)
		if !ok {
			return 0, fmt.Errorf("%w: connection %d is a %T", ErrNotMovable, i, c.Conn)
		}
		meta := make([]byte, 0, 1+len(c.Meta))
		meta = append(append(meta, metaUser), c.Meta...)
		hc[i] = handover.Conn{Socket: sock, Buffered: c.Buffered, Meta: meta}
	}
	s := h.successorChannel(ctx)
	if s == nil {
		return 0, ErrNoSuccessor
	}
	n, err := s.SendConns(ctx, hc)
	if err != nil {
		return n, fmt.Errorf("handoff: hand over: %d of %d moved: %w", n, len(conns), err)
	}
	return n, nil
}

// HandedOver returns the connections the previous generation passed with
// HandOver, in the order it passed them. The channel is closed once the
// previous generation has finished (it called Stop), when there is none,
// or when this generation stops. Call HandedOver before Ready, and keep
// receiving from the channel: handover waits while it is full, and a
// connection that arrives when nobody asked for them is closed.
func (h *Handoff) HandedOver() <-chan Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns == nil {
		h.conns = make(chan Conn, 64)
		if h.connsDone || h.handoverPath == "" {
			h.connsDone = true
			close(h.conns)
		}
	}
	return h.conns
}

package handoff

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// A Conn is a live connection passed between generations, for protocols
// the library does not know (see PassConns and InheritedConns).
//
// It is not a net.Conn on purpose: the client's bytes continue in Buffered
// before they continue on Raw, and reading Raw first would lose them. Use
// NetConn to get a net.Conn that reads them in order.
type Conn struct {
	// Raw is the connection's socket. On the sending side it must have the
	// socket underneath (a *net.TCPConn or *net.UnixConn, any syscall.Conn,
	// or what NetConn returned); TLS connections cannot move, their session
	// keys stay in this process. On the receiving side it is the socket as
	// the new generation holds it: read Buffered before it.
	Raw net.Conn
	// Buffered holds bytes the old generation read from the connection but
	// did not process (what a bufio.Reader held). The new generation must
	// consume them before reading from Raw; NetConn does. At most 512 KiB.
	Buffered []byte
	// Meta is the program's own, opaque to handoff: a session id, the
	// protocol state, where the conversation was. At most 64 KiB.
	Meta []byte
}

// NetConn returns the connection as a net.Conn whose Read yields Buffered
// first and then reads from Raw; every other method is Raw's. Passing it
// on with PassConns (as Conn.Raw) passes what it has not yet returned from
// Buffered along with the socket.
func (c Conn) NetConn() net.Conn {
	if len(c.Buffered) == 0 {
		return c.Raw
	}
	return &bufferedConn{Conn: c.Raw, rest: c.Buffered}
}

// bufferedConn is NetConn's net.Conn.
type bufferedConn struct {
	net.Conn
	mu   sync.Mutex
	rest []byte
}

func (b *bufferedConn) Read(p []byte) (int, error) {
	b.mu.Lock()
	if len(b.rest) > 0 {
		n := copy(p, b.rest)
		b.rest = b.rest[n:]
		b.mu.Unlock()
		return n, nil
	}
	b.mu.Unlock()
	return b.Conn.Read(p)
}

// unread returns the buffered bytes Read has not returned yet.
func (b *bufferedConn) unread() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rest
}

// PassConns passes connections to the generation that took over from this
// one, so their clients stay connected through the upgrade: the new
// generation receives them, in order, from InheritedConns. Call it once
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
// its channel: this is also what a plain stop returns, and what Windows
// always returns), ErrNotMovable for a connection without a socket
// underneath (nothing is passed then), or ErrHandover for the channel's
// failure. ctx bounds the wait for each batch's acknowledgement; a batch
// whose acknowledgement does not come in time is counted as moved and
// closed here (ErrUnconfirmed: the new generation may have it, never two
// owners).
//
// Requires the new generation to be a handoff program that reads
// InheritedConns (a connection it does not take is closed).
func (h *Handoff) PassConns(ctx context.Context, conns ...Conn) (int, error) {
	out := make([]outgoing, len(conns))
	for i, c := range conns {
		raw, buffered := c.Raw, c.Buffered
		if b, ok := raw.(*bufferedConn); ok {
			// What the program read but did not process comes first, then
			// what NetConn has not returned yet.
			raw, buffered = b.Conn, append(append([]byte(nil), buffered...), b.unread()...)
		}
		sock, ok := raw.(movable)
		if !ok {
			return 0, fmt.Errorf("handoff: pass conns: %w: connection %d is a %T", ErrNotMovable, i, c.Raw)
		}
		meta := make([]byte, 0, 1+len(c.Meta))
		meta = append(append(meta, metaUser), c.Meta...)
		out[i] = outgoing{sock: sock, buffered: buffered, meta: meta}
	}
	var p passer
	if h.links != nil {
		p = h.links.successor(ctx)
	}
	if p == nil {
		return 0, ErrNoSuccessor
	}
	n, err := p.pass(ctx, out)
	h.stats.drained(n, 0, 0)
	if err != nil {
		return n, fmt.Errorf("handoff: pass conns: %d of %d moved: %w", n, len(conns), err)
	}
	return n, nil
}

// InheritedConns returns the connections the previous generation passed
// with PassConns, in the order it passed them. The channel is closed once
// the previous generation has finished (it called Stop), when there is
// none (always, on Windows), or when this generation stops. Call
// InheritedConns before Ready, and keep receiving from the channel:
// handover waits while it is full, and a connection that arrives when
// nobody asked for them is closed.
func (h *Handoff) InheritedConns() <-chan Conn {
	if h.links == nil {
		return closedConns()
	}
	return h.links.inheritedConns()
}

func closedConns() <-chan Conn {
	ch := make(chan Conn)
	close(ch)
	return ch
}

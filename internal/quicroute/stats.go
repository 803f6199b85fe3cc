package quicroute

import "sync/atomic"

// Stats counts what a Conn did with the datagrams it read. The counters
// only grow; Stats is a snapshot.
type Stats struct {
	// Delivered counts datagrams from the shared socket handed to this
	// generation's quic-go: its own connections, new connections (long
	// header, DCID not ours) and non-QUIC datagrams.
	Delivered uint64
	// Forwarded counts datagrams written to an older generation's link.
	Forwarded uint64
	// FromLink counts forwarded datagrams read from this generation's own
	// link after Stop.
	FromLink uint64
	// DroppedForeign counts short-header datagrams whose DCID no Codec
	// with this key made: quic-go never sees them, so no stateless reset
	// answers a CID this server does not own.
	DroppedForeign uint64
	// DroppedNoRoute counts datagrams for another generation that has no
	// link here (never linked, or gone: its link refused the write).
	DroppedNoRoute uint64
	// DroppedLinkFull counts datagrams dropped because an older
	// generation's link had no buffer space: forwarding never blocks the
	// newest generation's reader, and QUIC recovers the loss.
	DroppedLinkFull uint64
	// BadFrames counts frames on this generation's link that did not
	// parse (see ErrFrame); they are dropped.
	BadFrames uint64
}

type counters struct {
	delivered, forwarded, fromLink                         atomic.Uint64
	droppedForeign, droppedNoRoute, droppedFull, badFrames atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Delivered:       c.delivered.Load(),
		Forwarded:       c.forwarded.Load(),
		FromLink:        c.fromLink.Load(),
		DroppedForeign:  c.droppedForeign.Load(),
		DroppedNoRoute:  c.droppedNoRoute.Load(),
		DroppedLinkFull: c.droppedFull.Load(),
		BadFrames:       c.badFrames.Load(),
	}
}

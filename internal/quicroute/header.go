package quicroute

// DestinationCID returns the destination connection ID of a QUIC
// datagram and whether it has a long header. Long headers carry the DCID's
// length (RFC 8999 §5.1, any version); short headers do not, so shortLen
// (CIDLen for servers using a Codec) is assumed. In a datagram of
// coalesced packets every packet has the same DCID (RFC 9000 §12.2), so the
// first one decides. The returned slice aliases b.
//
// It returns ErrUnparseable for an empty or truncated datagram, a long
// header DCID longer than 255 bytes can hold (never) or a first byte whose
// fixed bit says it is not QUIC (RFC 9443 demultiplexing: STUN, DTLS).
func DestinationCID(b []byte, shortLen int) (cid []byte, long bool, err error) {
	if len(b) == 0 {
		return nil, false, ErrUnparseable
	}
	if b[0]&0x80 == 0 { // short header: 0b01xxxxxx
		if b[0]&0x40 == 0 || len(b) < 1+shortLen {
			return nil, false, ErrUnparseable
		}
		return b[1 : 1+shortLen], false, nil
	}
	// long header: first byte, version u32, DCID len u8, DCID. The fixed
	// bit may be greased (RFC 9287) and version negotiation has any, so
	// only the length is checked.
	if len(b) < 6 {
		return nil, true, ErrUnparseable
	}
	n := int(b[5])
	if len(b) < 6+n {
		return nil, true, ErrUnparseable
	}
	return b[6 : 6+n], true, nil
}

// Owner returns the generation that owns the connection a datagram
// belongs to: ErrUnparseable when no DCID can be read, ErrNotOurs when the
// DCID was not made by a Codec with this key (a client's first Initial or
// 0-RTT packets, whose DCID the client chose). It does not allocate.
func (c *Codec) Owner(datagram []byte) (uint32, error) {
	cid, _, err := DestinationCID(datagram, CIDLen)
	if err != nil {
		return 0, err
	}
	return c.Decode(cid)
}

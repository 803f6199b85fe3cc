package takeover

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MetaTag starts the Meta of every socket a serving process passes on a
// takeover channel (the root package's 'h' and 'u' tags are the others;
// docs/PROTOCOL.md §6).
const MetaTag = 'l'

// MaxSockets is the most sockets one takeover passes: what Index and
// Count can say.
const MaxSockets = 1<<16 - 1

const metaSize = 10

// ErrMeta is a socket record that is not one.
var ErrMeta = errors.New("takeover: malformed socket record")

// SocketMeta names one socket on a takeover channel:
//
//	'l' | flags u8 (1: a state blob follows) | generation u32 | index u16 | count u16 | name
//
// They come first on the channel, in order, Index 0 to Count-1.
type SocketMeta struct {
	State        bool // a state blob follows the sockets
	Generation   int  // the newcomer's generation number (2 or more)
	Index, Count int
	Name         string // as in LISTEN_FDNAMES
}

// Encode returns the record.
func (m SocketMeta) Encode() []byte {
	b := make([]byte, metaSize, metaSize+len(m.Name))
	b[0] = MetaTag
	if m.State {
		b[1] = 1
	}
	binary.BigEndian.PutUint32(b[2:6], uint32(m.Generation))
	binary.BigEndian.PutUint16(b[6:8], uint16(m.Index))
	binary.BigEndian.PutUint16(b[8:10], uint16(m.Count))
	return append(b, m.Name...)
}

// DecodeSocketMeta parses a record (ErrMeta when it is not one).
func DecodeSocketMeta(b []byte) (SocketMeta, error) {
	if len(b) < metaSize || b[0] != MetaTag || b[1]&^1 != 0 {
		return SocketMeta{}, fmt.Errorf("%w: %d bytes", ErrMeta, len(b))
	}
	m := SocketMeta{
		State:      b[1] == 1,
		Generation: int(binary.BigEndian.Uint32(b[2:6])),
		Index:      int(binary.BigEndian.Uint16(b[6:8])),
		Count:      int(binary.BigEndian.Uint16(b[8:10])),
		Name:       string(b[metaSize:]),
	}
	if m.Count == 0 || m.Index >= m.Count || m.Generation < 2 {
		return SocketMeta{}, fmt.Errorf("%w: socket %d of %d, generation %d", ErrMeta, m.Index, m.Count, m.Generation)
	}
	return m, nil
}

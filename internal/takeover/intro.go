package takeover

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Introductions (docs/PROTOCOL.md §8, docs/TAKEOVER.md "The workers'
// handover across the two supervisors"): a serving supervisor tells the
// newcomer, per slot, where its ready worker's handover socket is, so the
// newcomer's first generation connects to the old workers as a
// same-supervisor upgrade's workers do. They travel as the state blob that
// follows the 'l' sockets (SocketMeta.State set on every record), of
// format version IntroVersion:
//
//	'i' | count u16 | count × (slot u16 | pid u32 | flags u8 (1: a state blob) | path len u8 | path)
//
// An existing item kind rather than a frame of its own: a newcomer that
// does not know introductions never reads the blob, and the serving side
// never makes the takeover wait for the blob's verdict, so builds with and
// without introductions take over from each other (the old workers then
// drain with Connection: close).

// IntroVersion is the state blob version of an introductions record. It
// is no small number on purpose: a library process that took over from a
// supervisor (not a pairing handoff supports) would see the blob as its
// predecessor's state, and no application's StateVersion should match it.
const IntroVersion uint32 = 'i'<<24 | 'n'<<16 | 't'<<8 | 1

// IntroTag starts an introductions record.
const IntroTag = 'i'

// MaxIntros is the most introductions one record holds: a supervisor runs
// at most 1024 workers per generation.
const MaxIntros = 1024

const (
	introHeader = 3 // tag, count
	introFixed  = 8 // slot, pid, flags, path len
	maxIntroLen = 1<<8 - 1
)

// MaxIntroSize bounds an introductions record: a receiver refuses a longer
// blob before it reads it whole.
const MaxIntroSize = introHeader + MaxIntros*(introFixed+maxIntroLen)

// ErrIntro is an introductions record that is not one.
var ErrIntro = errors.New("takeover: malformed introductions")

// Intro is one slot's introduction: the handover socket its worker
// announced (proto.HandoverField), the pid at the other end of it, and
// whether a state blob will come (proto.StateField). Encode and
// DecodeIntros check only the framing; what a receiver may relay (an
// absolute path that fits a socket address, a pid above 0, a slot it
// runs) is the receiver's to check, entry by entry.
type Intro struct {
	Slot  int
	PID   int
	State bool
	Path  string
}

// EncodeIntros returns the record of intros. An entry that cannot be
// written (a path over 255 bytes, a slot or pid out of its field's range)
// and every entry past MaxIntros is left out: the newcomer's worker of
// that slot simply starts without an introduction.
func EncodeIntros(intros []Intro) []byte {
	b := []byte{IntroTag, 0, 0}
	n := 0
	for _, in := range intros {
		if n == MaxIntros || len(in.Path) > maxIntroLen || in.Slot < 0 || in.Slot > 1<<16-1 || in.PID < 0 || int64(in.PID) > 1<<32-1 {
			continue
		}
		var flags byte
		if in.State {
			flags = 1
		}
		b = binary.BigEndian.AppendUint16(b, uint16(in.Slot))
		b = binary.BigEndian.AppendUint32(b, uint32(in.PID))
		b = append(b, flags, byte(len(in.Path)))
		b = append(b, in.Path...)
		n++
	}
	binary.BigEndian.PutUint16(b[1:3], uint16(n))
	return b
}

// DecodeIntros parses a record (ErrIntro when its framing is broken: a
// wrong tag, a count over MaxIntros, a length past the end, undefined
// flags, bytes left over).
func DecodeIntros(b []byte) ([]Intro, error) {
	if len(b) < introHeader || b[0] != IntroTag {
		return nil, fmt.Errorf("%w: %d bytes, tag %q", ErrIntro, len(b), b[:min(len(b), 1)])
	}
	count := int(binary.BigEndian.Uint16(b[1:3]))
	if count > MaxIntros {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrIntro, count, MaxIntros)
	}
	out := make([]Intro, 0, count)
	p := b[introHeader:]
	for i := range count {
		if len(p) < introFixed {
			return nil, fmt.Errorf("%w: entry %d of %d cut short", ErrIntro, i, count)
		}
		flags, plen := p[6], int(p[7])
		if flags&^1 != 0 {
			return nil, fmt.Errorf("%w: entry %d: undefined flags %#x", ErrIntro, i, flags)
		}
		if len(p) < introFixed+plen {
			return nil, fmt.Errorf("%w: entry %d: path of %d bytes past the end", ErrIntro, i, plen)
		}
		out = append(out, Intro{
			Slot:  int(binary.BigEndian.Uint16(p[0:2])),
			PID:   int(binary.BigEndian.Uint32(p[2:6])),
			State: flags == 1,
			Path:  string(p[introFixed : introFixed+plen]),
		})
		p = p[introFixed+plen:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after %d entries", ErrIntro, len(p), count)
	}
	return out, nil
}

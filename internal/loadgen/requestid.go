package loadgen

// Request ids have a fixed width so that a request's bytes can be formatted
// once per client and only the sequence number patched in per request:
//
//	RRRRRRRR-CCCCCC-SSSSSSSSSS   run, client, sequence (hex)
//
// The run part tells our own ids from anything else a server might echo; the
// client and sequence parts let a client recognise an echo of one of its own
// earlier requests (a duplicate answer) without a global table.
const (
	idLen       = 26
	idPrefixLen = 16 // run, client and both dashes
	idSeqDigits = 10
)

const hexDigits = "0123456789abcdef"

// putHex writes v as len(dst) lower-case hex digits, most significant first,
// dropping any higher digits.
func putHex(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hexDigits[v&15]
		v >>= 4
	}
}

// formatIDPrefix returns "RRRRRRRR-CCCCCC-".
func formatIDPrefix(run uint32, client int) []byte {
	b := make([]byte, idPrefixLen)
	putHex(b[0:8], uint64(run))
	b[8] = '-'
	putHex(b[9:15], uint64(client))
	b[15] = '-'
	return b
}

// parseIDSeq returns the sequence number of id if id carries the given
// prefix (so it was issued by the same client of the same run).
func parseIDSeq(id string, prefix []byte) (uint64, bool) {
	if len(id) != idLen || id[:idPrefixLen] != string(prefix) {
		return 0, false
	}
	var v uint64
	for i := idPrefixLen; i < idLen; i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// answeredSet remembers which sequence numbers of one client got their own
// answer, one bit each, so that a second answer to one of them is recognised
// as a duplicate rather than a mere mismatch.
type answeredSet struct{ bits []uint64 }

func (s *answeredSet) add(seq uint64) {
	i := seq >> 6
	for uint64(len(s.bits)) <= i {
		s.bits = append(s.bits, 0)
	}
	s.bits[i] |= 1 << (seq & 63)
}

func (s *answeredSet) has(seq uint64) bool {
	i := seq >> 6
	return i < uint64(len(s.bits)) && s.bits[i]&(1<<(seq&63)) != 0
}

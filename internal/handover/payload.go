package handover

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Payload layouts, big-endian. Each decoder checks every length against the
// bytes actually present, so that no input can make it read out of bounds
// or allocate more than the frame it got.

// hello: min u16, max u16, role u8, 3 reserved bytes, pid u32. Later
// versions may append fields; decoders ignore what follows.
type hello struct {
	min, max uint16
	role     role
	pid      uint32
}

type role uint8

const (
	roleSender   role = 1
	roleReceiver role = 2
)

func (r role) String() string {
	switch r {
	case roleSender:
		return "sender"
	case roleReceiver:
		return "receiver"
	}
	return fmt.Sprintf("role %d", uint8(r))
}

func (h hello) encode() []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], h.min)
	binary.BigEndian.PutUint16(b[2:], h.max)
	b[4] = byte(h.role)
	binary.BigEndian.PutUint32(b[8:], h.pid)
	return b
}

func decodeHello(p []byte) (hello, error) {
	if len(p) < 12 {
		return hello{}, fmt.Errorf("%w: hello of %d bytes, want at least 12", ErrProtocol, len(p))
	}
	h := hello{
		min:  binary.BigEndian.Uint16(p[0:]),
		max:  binary.BigEndian.Uint16(p[2:]),
		role: role(p[4]),
		pid:  binary.BigEndian.Uint32(p[8:]),
	}
	if h.min == 0 || h.min > h.max {
		return h, fmt.Errorf("%w: hello announces versions %d..%d", ErrProtocol, h.min, h.max)
	}
	return h, nil
}

// conns: seq u32, count u32, then count records of
// bufferedLen u32, metaLen u32, buffered, meta.
// Record i describes the i-th descriptor of the frame.
type connRecord struct {
	buffered, meta []byte
}

const connsHeaderSize, recordHeaderSize = 8, 8

func recordSize(c Conn) int { return recordHeaderSize + len(c.Buffered) + len(c.Meta) }

func appendConnsPayload(b []byte, seq uint32, conns []Conn) []byte {
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, uint32(len(conns)))
	for _, c := range conns {
		b = binary.BigEndian.AppendUint32(b, uint32(len(c.Buffered)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(c.Meta)))
		b = append(b, c.Buffered...)
		b = append(b, c.Meta...)
	}
	return b
}

// decodeConns returns slices of p (capacity-limited, so that appending to
// one never overwrites the next).
func decodeConns(p []byte) (seq uint32, recs []connRecord, err error) {
	if len(p) < connsHeaderSize {
		return 0, nil, fmt.Errorf("%w: conns frame of %d bytes", ErrProtocol, len(p))
	}
	seq = binary.BigEndian.Uint32(p[0:])
	count := binary.BigEndian.Uint32(p[4:])
	if count == 0 || count > MaxFDsPerFrame {
		return seq, nil, fmt.Errorf("%w: conns frame announces %d connections (1..%d)", ErrProtocol, count, MaxFDsPerFrame)
	}
	p = p[connsHeaderSize:]
	recs = make([]connRecord, 0, count)
	for i := uint32(0); i < count; i++ {
		if len(p) < recordHeaderSize {
			return seq, nil, fmt.Errorf("%w: conns frame: record %d truncated", ErrProtocol, i)
		}
		bl := uint64(binary.BigEndian.Uint32(p[0:]))
		ml := uint64(binary.BigEndian.Uint32(p[4:]))
		if bl > MaxBuffered || ml > MaxMeta {
			return seq, nil, fmt.Errorf("%w: conns frame: record %d has %d buffered and %d meta bytes (limits %d, %d)", ErrProtocol, i, bl, ml, MaxBuffered, MaxMeta)
		}
		p = p[recordHeaderSize:]
		if uint64(len(p)) < bl+ml {
			return seq, nil, fmt.Errorf("%w: conns frame: record %d truncated", ErrProtocol, i)
		}
		recs = append(recs, connRecord{buffered: p[:bl:bl], meta: p[bl : bl+ml : bl+ml]})
		p = p[bl+ml:]
	}
	if len(p) != 0 {
		return seq, nil, fmt.Errorf("%w: conns frame: %d bytes after the last record", ErrProtocol, len(p))
	}
	return seq, recs, nil
}

// u32pair: conns-ack (seq, count) and state-begin (id, version).
func encodeU32Pair(a, b uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, a), b)
}

func decodeU32Pair(t frameType, p []byte) (uint32, uint32, error) {
	if len(p) != 8 {
		return 0, 0, fmt.Errorf("%w: %s frame of %d bytes, want 8", ErrProtocol, t, len(p))
	}
	return binary.BigEndian.Uint32(p[0:]), binary.BigEndian.Uint32(p[4:]), nil
}

// done and done-ack: the number of connections confirmed, u64.
func encodeU64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func decodeU64(t frameType, p []byte) (uint64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("%w: %s frame of %d bytes, want 8", ErrProtocol, t, len(p))
	}
	return binary.BigEndian.Uint64(p), nil
}

// state-end: id u32, length u64, sha256 [32]byte.
const stateEndSize = 4 + 8 + 32

type stateEnd struct {
	id     uint32
	length uint64
	sum    [32]byte
}

func (e stateEnd) encode() []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, stateEndSize), e.id)
	b = binary.BigEndian.AppendUint64(b, e.length)
	return append(b, e.sum[:]...)
}

func decodeStateEnd(p []byte) (stateEnd, error) {
	if len(p) != stateEndSize {
		return stateEnd{}, fmt.Errorf("%w: state-end frame of %d bytes, want %d", ErrProtocol, len(p), stateEndSize)
	}
	return stateEnd{
		id:     binary.BigEndian.Uint32(p[0:]),
		length: binary.BigEndian.Uint64(p[4:]),
		sum:    [32]byte(p[12:44]),
	}, nil
}

// state-result: id u32, status u8, reason (UTF-8, up to MaxReason bytes).
type resultStatus uint8

const (
	stateAccepted resultStatus = 1
	stateRefused  resultStatus = 2
	stateCorrupt  resultStatus = 3
)

type stateResult struct {
	id     uint32
	status resultStatus
	reason string
}

func (r stateResult) encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, r.id)
	return append(append(b, byte(r.status)), clip(r.reason)...)
}

func decodeStateResult(p []byte) (stateResult, error) {
	if len(p) < 5 {
		return stateResult{}, fmt.Errorf("%w: state-result frame of %d bytes", ErrProtocol, len(p))
	}
	r := stateResult{id: binary.BigEndian.Uint32(p), status: resultStatus(p[4]), reason: string(p[5:])}
	if r.status < stateAccepted || r.status > stateCorrupt {
		return r, fmt.Errorf("%w: state-result with status %d", ErrProtocol, r.status)
	}
	return r, nil
}

// clip truncates a reason to MaxReason bytes on a rune boundary.
func clip(s string) string {
	if len(s) <= MaxReason {
		return s
	}
	i := MaxReason
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

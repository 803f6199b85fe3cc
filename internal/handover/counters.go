package handover

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// Counters carry a generation's cumulative counts (its metrics) to its
// successor, so that counters add up across generations instead of
// looking reset at every upgrade (Envoy streams its stats to the child the
// same way). Protocol version 2.
//
// Counters maps a series key (the library uses the Prometheus series,
// `name{label="value"}`) to its value: finite and not negative. Each frame
// is the sender's whole cumulative total so far, its inherited counts
// included, and supersedes the sender's earlier ones: a receiver keeps
// the last (or, per key, the largest) it got, and adds it to its own.
// Keys a receiver does not know are its to ignore, so a newer sender may
// add some.
type Counters map[string]float64

// Limits of a counters frame; a frame past them is refused (ErrProtocol).
const (
	// MaxCounters is the most series one counters frame carries.
	MaxCounters = 512
	// MaxCounterKey is the longest series key, in bytes.
	MaxCounterKey = 200
	// maxCountersPayload bounds the frame: the count and MaxCounters
	// records of the longest key.
	maxCountersPayload = 2 + MaxCounters*(1+MaxCounterKey+8)
	// countersVersion is the first protocol version with counters frames.
	countersVersion = 2
)

// counters: count u16, then count records of keyLen u8, key (UTF-8, no
// control characters), value u64 (IEEE 754 binary64 bits), keys unique.
func encodeCounters(c Counters) ([]byte, error) {
	if len(c) > MaxCounters {
		return nil, fmt.Errorf("%d series, the limit is %d", len(c), MaxCounters)
	}
	keys := make([]string, 0, len(c))
	for k, v := range c {
		if err := checkCounter(k, v); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(keys)*32), uint16(len(keys)))
	for _, k := range keys {
		b = append(append(b, byte(len(k))), k...)
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(c[k]))
	}
	return b, nil
}

func checkCounter(k string, v float64) error {
	if len(k) == 0 || len(k) > MaxCounterKey || !utf8.ValidString(k) {
		return fmt.Errorf("series key %q: empty, longer than %d bytes, or not UTF-8", clip(k), MaxCounterKey)
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("series key %q: control character", k)
		}
	}
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("series %q: value %v is not a count", k, v)
	}
	return nil
}

// decodeCounters checks every length against the bytes present, and every
// key and value, before it returns anything.
func decodeCounters(p []byte) (Counters, error) {
	if len(p) < 2 {
		return nil, fmt.Errorf("%w: counters frame of %d bytes", ErrProtocol, len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	if n > MaxCounters {
		return nil, fmt.Errorf("%w: counters frame announces %d series, the limit is %d", ErrProtocol, n, MaxCounters)
	}
	p = p[2:]
	c := make(Counters, n)
	for i := range n {
		if len(p) < 1 || len(p) < 1+int(p[0])+8 {
			return nil, fmt.Errorf("%w: counters frame: series %d truncated", ErrProtocol, i)
		}
		k := string(p[1 : 1+int(p[0])])
		v := math.Float64frombits(binary.BigEndian.Uint64(p[1+len(k):]))
		if err := checkCounter(k, v); err != nil {
			return nil, fmt.Errorf("%w: counters frame: %w", ErrProtocol, err)
		}
		if _, dup := c[k]; dup {
			return nil, fmt.Errorf("%w: counters frame: series %q twice", ErrProtocol, k)
		}
		c[k] = v
		p = p[1+len(k)+8:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: counters frame: %d bytes after the last series", ErrProtocol, len(p))
	}
	return c, nil
}

// SendCounters hands the receiver this generation's cumulative counts (see
// Counters). It does not wait for the receiver: nothing is acknowledged,
// and a generation that dies before sending loses its counts. A receiver
// that negotiated protocol version 1 has no counters frame: SendCounters
// then sends nothing and returns an error wrapping ErrNotInVersion, and
// the Sender stays usable; so it does for counters that break the limits
// (nothing is sent). A failed write breaks the Sender, as for any frame.
func (s *Sender) SendCounters(ctx context.Context, c Counters) error {
	if err := s.begin(); err != nil {
		s.op.Unlock()
		return fmt.Errorf("handover: send counters: %w", err)
	}
	defer s.op.Unlock()
	if s.c.version < countersVersion {
		return fmt.Errorf("handover: send counters: %w: the receiver speaks protocol version %d, counters need %d", ErrNotInVersion, s.c.version, countersVersion)
	}
	p, err := encodeCounters(c)
	if err != nil {
		return fmt.Errorf("handover: send counters: %w", err)
	}
	done := interrupt(ctx, s.c.c.SetWriteDeadline)
	_, err = s.c.c.Write(s.c.frame(frameCounters, 0, p))
	if err = prefer(done(), err); err != nil {
		return fmt.Errorf("handover: send counters: %w", s.fail(s.explain(err)))
	}
	return nil
}

// counters is the Receiver's side of a counters frame.
func (r *Receiver) counters(p []byte) (Item, error) {
	if r.c.version < countersVersion {
		return Item{}, r.fail(fmt.Errorf("%w: counters frame in protocol version %d (they begin at %d)", ErrProtocol, r.c.version, countersVersion))
	}
	c, err := decodeCounters(p)
	if err != nil {
		return Item{}, r.fail(err)
	}
	return Item{Counters: c}, nil
}

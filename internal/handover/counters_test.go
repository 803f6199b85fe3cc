//go:build unix

package handover

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
	"testing"
)

func mustEncodeCounters(c Counters) []byte {
	b, err := encodeCounters(c)
	if err != nil {
		panic(err)
	}
	return b
}

// A generation's counts reach its successor as they were sent, in order
// with the connections, and the channel goes on.
func TestCounters_ReachTheReceiver(t *testing.T) {
	checkFDs(t)
	s, r := pair(t)
	ctx := testCtx(t)
	want := Counters{`handoff_upgrades_total{kind="upgrade",result="done"}`: 7, "handoff_connections_migrated_total": 1e6, "zero": 0}
	if err := s.SendCounters(ctx, want); err != nil {
		t.Fatal(err)
	}
	finished := make(chan error, 1)
	go func() { finished <- s.Finish(ctx) }()
	it, err := r.Next(ctx)
	if err != nil || it.Conn != nil || it.State != nil || !maps.Equal(it.Counters, want) {
		t.Fatalf("Next: %+v, %v; want the counters %v", it, err, want)
	}
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("Next after the counters: %v, want io.EOF", err)
	}
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
}

// What a sender must never send is refused on its own side, and the
// Sender stays usable.
func TestSendCounters_InvalidCountsNotSent(t *testing.T) {
	checkFDs(t)
	s, r := pair(t)
	ctx := testCtx(t)
	many := Counters{}
	for i := range MaxCounters + 1 {
		many[strconv.Itoa(i)] = 1
	}
	for name, c := range map[string]Counters{
		"too many series": many,
		"NaN":             {"a": math.NaN()},
		"negative":        {"a": -1},
		"infinite":        {"a": math.Inf(1)},
		"empty key":       {"": 1},
		"long key":        {strings.Repeat("k", MaxCounterKey+1): 1},
		"control char":    {"a\nb": 1},
	} {
		if err := s.SendCounters(ctx, c); err == nil {
			t.Errorf("%s: sent", name)
		}
	}
	if !s.Alive() {
		t.Fatal("the Sender broke on counters it refused to send")
	}
	if err := s.SendCounters(ctx, Counters{"ok": 1}); err != nil {
		t.Fatal(err)
	}
	if it, err := r.Next(ctx); err != nil || it.Counters["ok"] != 1 {
		t.Fatalf("Next: %+v, %v", it, err)
	}
}

// Every way a counters payload can be malformed is refused by the decoder
// with ErrProtocol, before anything is returned.
func TestDecodeCounters_MalformedRefused(t *testing.T) {
	good := mustEncodeCounters(Counters{"a": 1})
	record := func(key string, v float64) []byte {
		b := append([]byte{byte(len(key))}, key...)
		bits := math.Float64bits(v)
		for i := 7; i >= 0; i-- {
			b = append(b, byte(bits>>(8*i)))
		}
		return b
	}
	count := func(n uint16, recs ...[]byte) []byte {
		return append([]byte{byte(n >> 8), byte(n)}, bytes.Join(recs, nil)...)
	}
	cases := map[string][]byte{
		"empty":              nil,
		"one byte":           {0},
		"over the limit":     count(MaxCounters + 1),
		"truncated record":   good[:len(good)-1],
		"truncated key":      count(1, []byte{9, 'a'}),
		"trailing bytes":     append(bytes.Clone(good), 0),
		"more than counted":  count(1, record("a", 1), record("b", 2)),
		"fewer than counted": count(2, record("a", 1)),
		"NaN":                count(1, record("a", math.NaN())),
		"negative":           count(1, record("a", -2)),
		"infinite":           count(1, record("a", math.Inf(1))),
		"empty key":          count(1, record("", 1)),
		"not UTF-8":          count(1, record("\xff", 1)),
		"control character":  count(1, record("a\x00b", 1)),
		"duplicate key":      count(2, record("a", 1), record("a", 2)),
	}
	for name, p := range cases {
		if c, err := decodeCounters(p); !errors.Is(err, ErrProtocol) || c != nil {
			t.Errorf("%s: %v, %v; want ErrProtocol and nothing", name, c, err)
		}
	}
	if c, err := decodeCounters(count(0)); err != nil || len(c) != 0 {
		t.Errorf("no series: %v, %v; want an empty set", c, err)
	}
	if _, err := decodeCounters(good); err != nil {
		t.Errorf("good: %v", err)
	}
}

// A receiver that speaks only version 1 has no counters frame: nothing is
// sent to it, and the channel carries on.
func TestSendCounters_VersionOneReceiverGetsNone(t *testing.T) {
	checkFDs(t)
	s, p := rawReceiver(t)
	wantErr(t, s.SendCounters(testCtx(t), Counters{"a": 1}), ErrNotInVersion, "protocol version 1")
	if !s.Alive() {
		t.Fatal("the Sender broke")
	}
	if h, _ := p.read(); h.typ != frameHello {
		t.Fatalf("first frame: %s, want hello", h.typ)
	}
}

package quicroute

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func testCodec(t testing.TB) *Codec {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCodec(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCodec_CIDNamesItsGeneration(t *testing.T) {
	c := testCodec(t)
	for _, gen := range []uint32{0, 1, 2, 1 << 31, ^uint32(0)} {
		id, err := c.Make(gen)
		if err != nil {
			t.Fatal(err)
		}
		if id.Len() != CIDLen {
			t.Fatalf("len %d, want %d", id.Len(), CIDLen)
		}
		got, err := c.Decode(id.Bytes())
		if err != nil || got != gen {
			t.Fatalf("Decode(Make(%d)) = %d, %v", gen, got, err)
		}
	}
}

func TestCodec_CIDsLookRandom(t *testing.T) {
	c := testCodec(t)
	seen := map[string]bool{}
	for range 10000 {
		id, err := c.Make(7)
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(id.Bytes())] {
			t.Fatal("duplicate connection id")
		}
		seen[string(id.Bytes())] = true
	}
	// No byte position is constant across CIDs of one generation: the tag
	// is not visible to an observer.
	a, _ := c.Make(7)
	b, _ := c.Make(7)
	if bytes.Equal(a.Bytes()[:4], b.Bytes()[:4]) {
		t.Errorf("two CIDs of one generation share their first 4 bytes: %x %x", a.Bytes(), b.Bytes())
	}
}

func TestCodec_ForeignCIDsAreNotOurs(t *testing.T) {
	c, other := testCodec(t), testCodec(t)
	buf := make([]byte, CIDLen)
	for range 10000 {
		rand.Read(buf)
		if _, err := c.Decode(buf); !errors.Is(err, ErrNotOurs) {
			t.Fatalf("random CID %x decoded: %v", buf, err)
		}
	}
	id, _ := other.Make(1)
	if _, err := c.Decode(id.Bytes()); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("another key's CID decoded: %v", err)
	}
	if _, err := c.Decode(buf[:8]); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("8-byte CID (a client's Initial DCID) decoded: %v", err)
	}
}

func TestGenerator_FixedLength(t *testing.T) {
	c := testCodec(t)
	g := c.Generator(3)
	if g.ConnectionIDLen() != CIDLen {
		t.Fatalf("ConnectionIDLen %d", g.ConnectionIDLen())
	}
	id, err := g.GenerateConnectionID()
	if err != nil {
		t.Fatal(err)
	}
	if gen, err := c.Decode(id.Bytes()); err != nil || gen != 3 {
		t.Fatalf("generator CID decodes to %d, %v", gen, err)
	}
}

func TestOwner_LongAndShortHeaders(t *testing.T) {
	c := testCodec(t)
	id, _ := c.Make(5)
	cid := id.Bytes()

	short := append([]byte{0x40 | 0x01}, cid...)
	short = append(short, make([]byte, 30)...)
	long := []byte{0xc0, 0, 0, 0, 1, byte(len(cid))}
	long = append(long, cid...)
	long = append(long, 8, 1, 2, 3, 4, 5, 6, 7, 8)
	clientInitial := []byte{0xc0, 0, 0, 0, 1, 8, 9, 9, 9, 9, 9, 9, 9, 9, 0}

	for name, tc := range map[string]struct {
		b    []byte
		gen  uint32
		want error
	}{
		"short":                {short, 5, nil},
		"long":                 {long, 5, nil},
		"client initial":       {clientInitial, 0, ErrNotOurs},
		"empty":                {nil, 0, ErrUnparseable},
		"short truncated":      {short[:CIDLen], 0, ErrUnparseable},
		"long truncated":       {long[:10], 0, ErrUnparseable},
		"long header only":     {long[:5], 0, ErrUnparseable},
		"not quic (fixed bit)": {append([]byte{0x01}, cid...), 0, ErrUnparseable},
	} {
		gen, err := c.Owner(tc.b)
		if !errors.Is(err, tc.want) || gen != tc.gen {
			t.Errorf("%s: Owner = %d, %v; want %d, %v", name, gen, err, tc.gen, tc.want)
		}
	}
}

func TestOwner_DoesNotAllocate(t *testing.T) {
	c := testCodec(t)
	id, _ := c.Make(5)
	d := append([]byte{0x41}, id.Bytes()...)
	if n := testing.AllocsPerRun(100, func() { c.Owner(d) }); n != 0 {
		t.Fatalf("Owner allocates %v times", n)
	}
}

func BenchmarkOwner(b *testing.B) {
	c := testCodec(b)
	id, _ := c.Make(5)
	d := append([]byte{0x41}, id.Bytes()...)
	d = append(d, make([]byte, 1200)...)
	for b.Loop() {
		c.Owner(d)
	}
}

//go:build linux || darwin || freebsd

package quicroute_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/quicroute"
)

// rawPair is two generations' routing Conns on one shared socket, read
// directly (no quic-go), and a client socket that sends crafted datagrams.
type rawPair struct {
	codec    *quicroute.Codec
	old, new *quicroute.Conn
	client   *net.UDPConn
	server   *net.UDPAddr
}

func newRawPair(t *testing.T) *rawPair {
	t.Helper()
	codec := newCodec(t)
	shared := listenShared(t)
	p := &rawPair{codec: codec, server: shared.LocalAddr().(*net.UDPAddr)}
	mk := func(gen uint32, active bool) *quicroute.Conn {
		u := dupUDP(t, shared)
		c, err := quicroute.New(u, quicroute.Config{Codec: codec, Generation: gen, Active: active})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	p.old, p.new = mk(1, true), mk(2, false)
	var err error
	if p.client, err = net.DialUDP("udp", nil, p.server); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.client.Close() })
	return p
}

func (p *rawPair) short(t *testing.T, gen uint32) []byte {
	id, err := p.codec.Make(gen)
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte{0x41}, id.Bytes()...)
	return append(b, bytes.Repeat([]byte{byte(gen)}, 40)...)
}

func (p *rawPair) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.client.Write(b); err != nil {
		t.Fatal(err)
	}
}

// expect reads one datagram from c within a bounded time and checks it.
func expect(t *testing.T, c *quicroute.Conn, want []byte, from net.Addr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, addr, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("generation %d: read: %v", c.Generation(), err)
	}
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("generation %d read %x, want %x", c.Generation(), buf[:n], want)
	}
	if addr.String() != from.String() {
		t.Fatalf("generation %d: source %v, want %v", c.Generation(), addr, from)
	}
}

// datagram is one read by a background reader.
type datagram struct {
	b    []byte
	from net.Addr
}

// readAll reads c in the background, as quic-go's reader would, until c
// closes: the newest generation routes only while someone reads it.
func readAll(c *quicroute.Conn) <-chan datagram {
	ch := make(chan datagram, 16)
	go func() {
		for {
			buf := make([]byte, 2048)
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- datagram{buf[:n], from}
		}
	}()
	return ch
}

func expectOn(t *testing.T, ch <-chan datagram, want []byte, from net.Addr) {
	t.Helper()
	d := receive(t, "a datagram on the new generation", ch, 5*time.Second)
	if !bytes.Equal(d.b, want) || d.from.String() != from.String() {
		t.Fatalf("new generation read %x from %v, want %x from %v", d.b, d.from, want, from)
	}
}

// expectNothing checks that c has nothing to read for a short while. A
// bounded negative check: there is no event to wait for.
func expectNothing(t *testing.T, c *quicroute.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 2048)
	if n, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("generation %d read %x, %v; want nothing", c.Generation(), buf[:n], err)
	}
}

func TestRouting_EachDatagramReachesItsOwner(t *testing.T) {
	p := newRawPair(t)
	from := p.client.LocalAddr()

	// Before cutover generation 1 reads everything it owns; generation 2
	// reads nothing.
	d1 := p.short(t, 1)
	p.send(t, d1)
	expect(t, p.old, d1, from)

	cutoverRaw(t, p.old, p.new)
	rx := readAll(p.new)

	// An old connection's datagram: read by 2, forwarded, read by 1 with
	// the client's address, so 1 answers from its own copy of the socket.
	p.send(t, d1)
	expect(t, p.old, d1, from)
	// The new generation's own, and a new connection's Initial (a DCID the
	// client chose), stay with generation 2.
	d2 := p.short(t, 2)
	p.send(t, d2)
	expectOn(t, rx, d2, from)
	initial := append([]byte{0xc0, 0, 0, 0, 1, 8}, make([]byte, 8+1200)...)
	rand.Read(initial[6:14])
	p.send(t, initial)
	expectOn(t, rx, initial, from)

	// A short header nobody here made, and one for a generation without a
	// link, never reach quic-go (so no stateless reset can answer them).
	foreign := append([]byte{0x41}, make([]byte, 60)...)
	rand.Read(foreign[1:])
	p.send(t, foreign)
	p.send(t, p.short(t, 9))
	p.send(t, d2) // a marker: once it is read, the two before were handled
	expectOn(t, rx, d2, from)
	s := p.new.Stats()
	if s.DroppedForeign != 1 || s.DroppedNoRoute != 1 || s.Forwarded != 1 {
		t.Fatalf("stats %+v: want 1 foreign, 1 no-route, 1 forwarded", s)
	}
	expectNothing(t, p.old)

	// Generation 1 exits: its datagrams are dropped, the route removed.
	p.old.Close()
	p.send(t, d1)
	p.send(t, d2)
	expectOn(t, rx, d2, from)
	if s := p.new.Stats(); s.DroppedNoRoute != 2 {
		t.Fatalf("after generation 1 closed: %+v, want 2 no-route", s)
	}
}

func TestResume_OldGenerationTakesTheSocketBack(t *testing.T) {
	p := newRawPair(t)
	from := p.client.LocalAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A reader waits on generation 1 when it stops, as quic-go's would.
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 2048)
		p.old.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := p.old.ReadFrom(buf)
		if err != nil {
			got <- []byte(err.Error())
			return
		}
		got <- buf[:n]
	}()
	if err := p.old.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The successor failed before Start: generation 1 resumes, and the
	// datagram sent while nobody read is in the socket for it.
	d1 := p.short(t, 1)
	p.send(t, d1)
	if err := p.old.Resume(); err != nil {
		t.Fatal(err)
	}
	if b := receive(t, "the resumed generation to read", got, 10*time.Second); !bytes.Equal(b, d1) {
		t.Fatalf("read %q, want the datagram", b)
	}
	p.send(t, d1)
	expect(t, p.old, d1, from)
}

func TestStop_WithoutReaderReturnsAtOnce(t *testing.T) {
	p := newRawPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.old.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.old.Start(); err == nil {
		t.Fatal("Start after Stop succeeded")
	}
	if err := p.new.AddRoute(2, nil); err == nil {
		t.Fatal("route to its own generation accepted")
	}
}

//go:build unix

package handover

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testTimeout bounds every wait in a test: nothing here should take it.
const testTimeout = 20 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var warmOnce sync.Once

// checkFDs fails the test if it ends with more open descriptors than it
// started with (Linux: /proc/self/fd). Call it first, so that its cleanup
// runs after every other.
func checkFDs(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	// The first use of the network opens the runtime poller's descriptors
	// for good: open them before counting.
	warmOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			ln.Close()
		}
	})
	before := openFDs(t)
	t.Cleanup(func() {
		if after := openFDs(t); len(after) != len(before) {
			t.Errorf("descriptor leak: %d open before the test, %d after\nbefore: %v\nafter:  %v", len(before), len(after), before, after)
		}
	})
}

func openFDs(t testing.TB) []string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds = append(fds, e.Name()+"→"+target)
	}
	return fds
}

// listen opens a channel as an old generation would; it is closed at the
// end of the test (before checkFDs counts).
func listen(t testing.TB) *Listener {
	t.Helper()
	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialAway dials the channel at path from a goroutine, expecting no
// particular peer, closes what it gets and sends Dial's error.
func dialAway(ctx context.Context, path string) <-chan error {
	dialed := make(chan error, 1)
	go func() {
		r, err := Dial(ctx, path, Peer{})
		if err == nil {
			r.Close()
		}
		dialed <- err
	}()
	return dialed
}

// dialRaw dials a rawSender as this very pid and returns the receiving
// end (closed at the end of the test) and the raw sender it reached.
func dialRaw(t testing.TB, ctx context.Context) (*Receiver, *rawPeer) {
	t.Helper()
	return dialRawOf(t, ctx, 1)
}

// dialRawOf is dialRaw with a raw sender of protocol version v
// (rawSenderOf).
func dialRawOf(t testing.TB, ctx context.Context, v uint16) (*Receiver, *rawPeer) {
	t.Helper()
	path, accept := rawSenderOf(t, v)
	peer := make(chan *rawPeer, 1)
	go func() { peer <- accept() }()
	r, err := Dial(ctx, path, Peer{PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p := <-peer
	if p == nil {
		t.FailNow()
	}
	return r, p
}

// pair connects a Sender and a Receiver of this process over a real
// socket, each checking that the other is this very pid.
func pair(t testing.TB) (*Sender, *Receiver) {
	t.Helper()
	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testCtx(t)
	type accepted struct {
		s   *Sender
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		s, err := ln.Accept(ctx, Peer{PID: os.Getpid()})
		ch <- accepted{s, err}
	}()
	r, err := Dial(ctx, ln.Path(), Peer{PID: os.Getpid()})
	a := <-ch
	if err != nil || a.err != nil {
		t.Fatalf("dial: %v; accept: %v", err, a.err)
	}
	t.Cleanup(func() {
		a.s.Close()
		r.Close()
	})
	return a.s, r
}

// tcpPairs returns n connected TCP pairs on 127.0.0.1: the clients, and
// the server ends as the old generation accepted them.
func tcpPairs(t testing.TB, n int) (clients []net.Conn, servers []*net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		for len(servers) < n {
			c, err := ln.AcceptTCP()
			if err != nil {
				accepted <- err
				return
			}
			servers = append(servers, c)
		}
		accepted <- nil
	}()
	var d net.Dialer
	ctx := testCtx(t)
	for range n {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial client %d: %v", len(clients), err)
		}
		clients = append(clients, c)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
		for _, c := range servers {
			c.Close()
		}
	})
	return clients, servers
}

// peek reports what a client's socket holds without consuming it:
// "nothing" (no data, no FIN, no RST), "data", "FIN" or the error (RST).
func peek(t testing.TB, c net.Conn) string {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var perr error
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, perr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	})
	switch {
	case perr == unix.EAGAIN:
		return "nothing"
	case perr != nil:
		return perr.Error()
	case n == 0:
		return "FIN"
	}
	return "data"
}

// serve answers one request line on an item received from the old
// generation: the buffered bytes come first, then the socket.
func serve(it Item, who string) error {
	br := bufio.NewReader(io.MultiReader(bytes.NewReader(it.Buffered), it.Conn))
	line, err := br.ReadString('\n')
	if err != nil {
		return fmt.Errorf("meta %s: read: %w", it.Meta, err)
	}
	_, err = fmt.Fprintf(it.Conn, "%s meta=%s line=%s", who, it.Meta, line)
	return err
}

// genReader produces size pseudo-random bytes on the fly (xorshift64) and
// hashes them as it goes, so that a blob of any size costs no memory.
type genReader struct {
	left, read int64
	x          uint64
	sum        hash.Hash
	word       [8]byte
	wordLeft   int
}

func newGen(size int64) *genReader {
	return &genReader{left: size, x: 0x9E3779B97F4A7C15, sum: sha256.New()}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	i := 0
	for i < len(p) {
		if g.wordLeft == 0 {
			g.x ^= g.x << 13
			g.x ^= g.x >> 7
			g.x ^= g.x << 17
			if len(p)-i >= 8 {
				binary.LittleEndian.PutUint64(p[i:], g.x)
				i += 8
				continue
			}
			binary.LittleEndian.PutUint64(g.word[:], g.x)
			g.wordLeft = 8
		}
		k := copy(p[i:], g.word[8-g.wordLeft:])
		g.wordLeft -= k
		i += k
	}
	g.sum.Write(p)
	g.left -= int64(len(p))
	g.read += int64(len(p))
	return len(p), nil
}

// failingReader returns err after n bytes.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

// rawPeer is a hand-driven end of the channel, to send what a correct
// peer never would.
type rawPeer struct {
	t  testing.TB
	c  *net.UnixConn
	fr *frameReader
}

// rawSender listens like an old generation would and returns the path and
// a function that accepts the receiver and completes the handshake as a
// version-1 sender.
func rawSender(t testing.TB) (path string, accept func() *rawPeer) {
	t.Helper()
	return rawSenderOf(t, 1)
}

// rawSenderOf is rawSender speaking only protocol version v.
func rawSenderOf(t testing.TB, v uint16) (path string, accept func() *rawPeer) {
	t.Helper()
	dir, err := os.MkdirTemp("", "handover-raw-")
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		os.RemoveAll(dir)
	})
	return path, func() *rawPeer {
		ln.SetDeadline(time.Now().Add(testTimeout))
		c, err := ln.AcceptUnix()
		if err != nil {
			t.Error(err)
			return nil
		}
		p := newRawPeer(t, c)
		p.write(frameHello, 0, hello{min: v, max: v, role: roleSender, pid: uint32(os.Getpid())}.encode())
		if h, _ := p.read(); h.typ != frameHello {
			t.Errorf("raw sender: got %s, want hello", h.typ)
		}
		p.fr.version = uint8(v)
		return p
	}
}

// rawReceiver is a Sender of this package handshaken with a hand-driven
// receiver that speaks version 1 only (the sender's hello is still to be
// read from the peer).
func rawReceiver(t testing.TB) (*Sender, *rawPeer) {
	t.Helper()
	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return rawReceiverOn(t, ln)
}

// rawReceiverOn is rawReceiver on a listener of the caller's.
func rawReceiverOn(t testing.TB, ln *Listener) (*Sender, *rawPeer) {
	t.Helper()
	accepted := make(chan *Sender, 1)
	go func() {
		s, err := ln.Accept(testCtx(t), Peer{})
		if err != nil {
			t.Error(err)
		}
		accepted <- s
	}()
	c, err := net.Dial("unix", ln.Path())
	if err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t, c.(*net.UnixConn))
	p.write(frameHello, 0, hello{min: 1, max: 1, role: roleReceiver, pid: uint32(os.Getpid())}.encode())
	s := <-accepted
	if s == nil {
		t.FailNow()
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

func newRawPeer(t testing.TB, c *net.UnixConn) *rawPeer {
	c.SetDeadline(time.Now().Add(testTimeout))
	p := &rawPeer{t: t, c: c, fr: newFrameReader(func(b, oob []byte) (int, int, int, error) {
		n, oobn, flags, _, err := c.ReadMsgUnix(b, oob)
		return n, oobn, flags, err
	})}
	p.fr.takesFDs = true // read() closes them itself
	t.Cleanup(func() { c.Close() })
	return p
}

func (p *rawPeer) write(t frameType, flags uint16, payload []byte) {
	p.writeRaw(appendFrame(nil, 1, t, flags, payload), nil)
}

func (p *rawPeer) writeRaw(b []byte, fds []int) {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := p.c.WriteMsgUnix(b, oob, nil); err != nil {
		p.t.Errorf("raw peer write: %v", err)
	}
}

func (p *rawPeer) read() (header, []byte) {
	h, b, err := p.fr.readFrame()
	if err != nil {
		p.t.Errorf("raw peer read: %v", err)
	}
	closeAll(p.fr.takeFDs())
	return h, b
}

// dupFDs duplicates the descriptors of sockets, for a raw peer to send.
func dupFDs(t testing.TB, conns []*net.TCPConn) []int {
	var fds []int
	for _, c := range conns {
		fd, err := dup(c)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	t.Cleanup(func() { closeAll(fds) })
	return fds
}

func wantErr(t testing.TB, err, target error, contains string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not say %q", err, contains)
	}
}

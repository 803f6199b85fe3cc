//go:build unix

package handover

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bytesMsgReader feeds a frameReader from plain bytes, step bytes at a
// time, so that frames arrive split at every possible place.
func bytesMsgReader(data []byte, step int) readMsgFunc {
	r := bytes.NewReader(data)
	return func(b, oob []byte) (int, int, int, error) {
		n, err := r.Read(b[:min(len(b), step)])
		if err == io.EOF {
			err = nil // like recvmsg: 0 bytes at the end of the stream
		}
		return n, 0, 0, err
	}
}

func validFrames() [][]byte {
	var end stateEnd
	end.id, end.length = 1, 3
	frames := [][]byte{
		appendFrame(nil, 1, frameHello, 0, hello{min: 1, max: 1, role: roleSender, pid: 42}.encode()),
		appendFrame(nil, 1, frameConns, 0, appendConnsPayload(nil, 1, []Conn{{Buffered: []byte("GET /"), Meta: []byte("m")}, {}})),
		appendFrame(nil, 1, frameConnsAck, 0, encodeU32Pair(1, 2)),
		appendFrame(nil, 1, frameStateBegin, 0, encodeU32Pair(1, 7)),
		appendFrame(nil, 1, frameStateChunk, 0, []byte("abc")),
		appendFrame(nil, 1, frameStateEnd, 0, end.encode()),
		appendFrame(nil, 1, frameStateEnd, flagCancelled, end.encode()),
		appendFrame(nil, 1, frameStateResult, 0, stateResult{id: 1, status: stateRefused, reason: "no"}.encode()),
		appendFrame(nil, 1, frameDone, 0, encodeU64(2)),
		appendFrame(nil, 1, frameDoneAck, 0, encodeU64(2)),
		appendFrame(nil, 1, frameAbort, 0, []byte("bye")),
		appendFrame(nil, 1, frameCounters, 0, mustEncodeCounters(Counters{`handoff_upgrades_total{result="done"}`: 3, "x": 0.5})),
	}
	return frames
}

// decodeAny runs the decoder of h's type on p.
func decodeAny(h header, p []byte) error {
	var err error
	switch h.typ {
	case frameHello:
		_, err = decodeHello(p)
	case frameConns:
		_, _, err = decodeConns(p)
	case frameConnsAck, frameStateBegin:
		_, _, err = decodeU32Pair(h.typ, p)
	case frameDone, frameDoneAck:
		_, err = decodeU64(h.typ, p)
	case frameStateEnd:
		_, err = decodeStateEnd(p)
	case frameStateResult:
		_, err = decodeStateResult(p)
	case frameCounters:
		_, err = decodeCounters(p)
	}
	return err
}

func TestReadFrame_EveryValidFrameDecodes_EvenByteByByte(t *testing.T) {
	all := bytes.Join(validFrames(), nil)
	for _, step := range []int{1, 5, 1 << 20} {
		fr := newFrameReader(bytesMsgReader(all, step))
		for i := range validFrames() {
			h, p, err := fr.readFrame()
			if err != nil {
				t.Fatalf("step %d, frame %d: %v", step, i, err)
			}
			if err := decodeAny(h, p); err != nil {
				t.Fatalf("step %d, frame %d (%s): %v", step, i, h.typ, err)
			}
		}
		if _, _, err := fr.readFrame(); err != io.EOF {
			t.Fatalf("step %d: after the last frame: %v, want io.EOF", step, err)
		}
	}
}

func TestReadFrame_MalformedInputRefusedWithClearErrors(t *testing.T) {
	hdr := func(magic string, version, typ byte, flags uint16, length uint32) []byte {
		b := make([]byte, headerSize)
		header{version: version, typ: frameType(typ), flags: flags, length: length}.put(b)
		copy(b, magic)
		return b
	}
	cases := []struct {
		name  string
		input []byte
		want  error
		says  string
	}{
		{"bad magic", hdr("HTTP", 1, 1, 0, 0), ErrProtocol, `bad magic "HTTP"`},
		{"unknown type", hdr("HOVR", 1, 42, 0, 0), ErrProtocol, "unknown type 42"},
		{"unknown version", hdr("HOVR", 9, byte(frameConns), 0, 0), ErrProtocol, "protocol version 9, expected 1"},
		{"hello in another version", hdr("HOVR", 2, byte(frameHello), 0, 12), ErrProtocol, "hello frame written in protocol version 2"},
		{"undefined flags", hdr("HOVR", 1, byte(frameDone), 4, 8), ErrProtocol, "undefined flags 0x4"},
		{"too large", hdr("HOVR", 1, byte(frameConns), 0, MaxPayload+1), ErrFrameTooLarge, "announces 1048577 bytes, the limit is 1048576"},
		{"too large for its type", hdr("HOVR", 1, byte(frameDone), 0, 9), ErrFrameTooLarge, "done frame announces 9 bytes, the limit is 8"},
		{"truncated header", hdr("HOVR", 1, byte(frameDone), 0, 8)[:7], io.ErrUnexpectedEOF, ""},
		{"truncated payload", append(hdr("HOVR", 1, byte(frameDone), 0, 8), 1, 2, 3), io.ErrUnexpectedEOF, "read done frame"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fr := newFrameReader(bytesMsgReader(c.input, 3))
			_, _, err := fr.readFrame()
			wantErr(t, err, c.want, c.says)
		})
	}
}

func TestReadFrame_HugeLengthRefusedBeforeAllocating(t *testing.T) {
	b := make([]byte, headerSize)
	header{version: 1, typ: frameConns, length: 0xFFFFFFFF}.put(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fr := newFrameReader(bytesMsgReader(b, headerSize))
	_, _, err := fr.readFrame()
	runtime.ReadMemStats(&after)
	wantErr(t, err, ErrFrameTooLarge, "4294967295")
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("reading a refused header allocated %d bytes", grew)
	}
}

func TestDecodeConns_MalformedRecordsRefused(t *testing.T) {
	good := appendConnsPayload(nil, 1, []Conn{{Buffered: []byte("abc"), Meta: []byte("m")}})
	cases := map[string][]byte{
		"zero connections": encodeU32Pair(1, 0),
		"too many":         encodeU32Pair(1, MaxFDsPerFrame+1),
		"truncated record": good[:len(good)-1],
		"trailing bytes":   append(bytes.Clone(good), 0),
		"huge lengths":     append(encodeU32Pair(1, 1), 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0),
	}
	for name, p := range cases {
		if _, _, err := decodeConns(p); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	for _, fr := range validFrames() {
		f.Add(fr, uint8(3))
	}
	f.Add(bytes.Join(validFrames(), nil), uint8(255))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		fr := newFrameReader(bytesMsgReader(data, int(step)+1))
		for range 64 {
			h, p, err := fr.readFrame()
			if len(fr.fds) != 0 {
				t.Fatalf("descriptors left over: %v", fr.fds)
			}
			if err != nil {
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected kind of error: %v", err)
				}
				return
			}
			if uint32(len(p)) != h.length || len(p) > MaxPayload {
				t.Fatalf("payload of %d bytes for a header announcing %d", len(p), h.length)
			}
			if err := decodeAny(h, p); err != nil && !errors.Is(err, ErrProtocol) {
				t.Fatalf("decode %s: unexpected kind of error: %v", h.typ, err)
			}
		}
	})
}

// The receiving end over a real socket, against a sender that misbehaves:
// every error is clear, and every descriptor that came with a bad frame is
// closed (checkFDs).
func TestReceiver_MisbehavingSender(t *testing.T) {
	cases := []struct {
		name string
		send func(p *rawPeer, fds []int)
		want error
		says string
	}{
		{"unknown frame type", func(p *rawPeer, _ []int) {
			p.writeRaw(appendFrame(nil, 1, 42, 0, nil), nil)
		}, ErrProtocol, "unknown type 42"},
		{"frame over the size limit", func(p *rawPeer, _ []int) {
			b := make([]byte, headerSize)
			header{version: 1, typ: frameConns, length: 1 << 31}.put(b)
			p.writeRaw(b, nil)
		}, ErrFrameTooLarge, "2147483648"},
		{"truncated frame with descriptors", func(p *rawPeer, fds []int) {
			f := appendFrame(nil, 1, frameConns, 0, appendConnsPayload(nil, 1, make([]Conn, len(fds))))
			p.writeRaw(f[:len(f)-3], fds)
			p.c.Close()
		}, ErrAborted, "in the middle of a frame"},
		{"fewer records than descriptors", func(p *rawPeer, fds []int) {
			p.writeRaw(appendFrame(nil, 1, frameConns, 0, appendConnsPayload(nil, 1, make([]Conn, len(fds)-1))), fds)
		}, ErrProtocol, "3 descriptors for 2 connections"},
		{"descriptors on a frame that carries none", func(p *rawPeer, fds []int) {
			p.writeRaw(appendFrame(nil, 1, frameStateBegin, 0, encodeU32Pair(1, 1)), fds)
		}, ErrProtocol, "3 descriptors on a state-begin frame"},
		{"conns frame out of sequence", func(p *rawPeer, fds []int) {
			p.writeRaw(appendFrame(nil, 1, frameConns, 0, appendConnsPayload(nil, 5, make([]Conn, len(fds)))), fds)
		}, ErrProtocol, "conns frame 5 after frame 0"},
		{"done with the wrong count", func(p *rawPeer, _ []int) {
			p.write(frameDone, 0, encodeU64(7))
		}, ErrProtocol, "the sender counts 7 connections, this side confirmed 0"},
		{"closed without finishing", func(p *rawPeer, _ []int) {
			p.c.Close()
		}, ErrAborted, "without finishing"},
		{"abort", func(p *rawPeer, _ []int) {
			p.write(frameAbort, 0, []byte("old generation stopping"))
		}, ErrAborted, "old generation stopping"},
		{"counters frame in version 1", func(p *rawPeer, _ []int) {
			p.write(frameCounters, 0, mustEncodeCounters(Counters{"a": 1}))
		}, ErrProtocol, "counters frame in protocol version 1"},
		{"counters frame over its limit", func(p *rawPeer, _ []int) {
			b := make([]byte, headerSize)
			header{version: 2, typ: frameCounters, length: maxCountersPayload + 1}.put(b)
			p.writeRaw(b, nil)
		}, ErrFrameTooLarge, "counters frame announces"},
		{"malformed counters frame", func(p *rawPeer, _ []int) {
			bad := append(mustEncodeCounters(Counters{"a": 1}), 0)
			p.writeRaw(appendFrame(nil, 2, frameCounters, 0, bad), nil)
		}, ErrProtocol, "1 bytes after the last series"},
		{"counters with descriptors", func(p *rawPeer, fds []int) {
			p.writeRaw(appendFrame(nil, 2, frameCounters, 0, mustEncodeCounters(Counters{"a": 1})), fds)
		}, ErrProtocol, "3 descriptors on a counters frame"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkFDs(t)
			_, servers := tcpPairs(t, 3)
			// Counters frames exist from version 2 on: the sender of
			// those cases speaks it (the receiver speaks 1..2).
			v := uint16(1)
			if strings.Contains(c.name, "counters") && !strings.HasSuffix(c.name, "version 1") {
				v = 2
			}
			ctx := testCtx(t)
			r, p := dialRawOf(t, ctx, v)
			c.send(p, dupFDs(t, servers))
			_, err := r.Next(ctx)
			wantErr(t, err, c.want, c.says)
			if _, again := r.Next(ctx); !errors.Is(again, c.want) {
				t.Fatalf("second Next: %v, want the same error", again)
			}
			if errors.Is(c.want, ErrProtocol) {
				// The sender is told why.
				h, msg := p.read()
				if h.typ != frameAbort || !strings.Contains(string(msg), c.says) {
					t.Fatalf("sender got %s %q, want an abort saying %q", h.typ, msg, c.says)
				}
			}
		})
	}
}

func TestHandshake_VersionMismatchRefusedOnBothSides(t *testing.T) {
	checkFDs(t)
	ln := listen(t)
	ctx := testCtx(t)
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept(ctx, Peer{})
		accepted <- err
	}()
	c, err := net.Dial("unix", ln.Path())
	if err != nil {
		t.Fatal(err)
	}
	p := newRawPeer(t, c.(*net.UnixConn))
	p.write(frameHello, 0, hello{min: 3, max: 4, role: roleReceiver, pid: 1234}.encode())
	wantErr(t, <-accepted, ErrVersion, "the peer (pid 1234) speaks versions 3..4, this build speaks 1..2")
	if h, _ := p.read(); h.typ != frameHello {
		t.Fatalf("first frame from the listener: %s", h.typ)
	}
	h, msg := p.read()
	if h.typ != frameAbort || !strings.Contains(string(msg), "speaks versions 3..4") {
		t.Fatalf("peer got %s %q, want an abort naming the versions", h.typ, msg)
	}
}

func TestHandshake_TwoReceiversRefused(t *testing.T) {
	checkFDs(t)
	path, _ := rawSender(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path + "2", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testCtx(t)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			return
		}
		p := newRawPeer(t, c)
		p.write(frameHello, 0, hello{min: 1, max: 1, role: roleReceiver}.encode())
	}()
	_, err = Dial(ctx, path+"2", Peer{})
	wantErr(t, err, ErrProtocol, "the peer is a receiver, so is this side")
}

func TestDial_ContextBoundsASilentListener(t *testing.T) {
	checkFDs(t)
	path, _ := rawSender(t) // listens, never accepts nor says hello
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, path, Peer{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline", err)
	}
}

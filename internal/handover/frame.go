package handover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits of the framing. They are part of the protocol: a peer that exceeds
// them is refused, whatever it announces.
const (
	// MaxPayload is the largest frame payload accepted, checked against the
	// header before any memory is allocated for the payload.
	MaxPayload = 1 << 20
	// MaxFDsPerFrame is the most descriptors one frame carries: Linux's
	// SCM_MAX_FD, the most one sendmsg may pass. Larger batches are split.
	MaxFDsPerFrame = 253
	// MaxMeta is the largest metadata blob one connection may carry.
	MaxMeta = 64 << 10
	// MaxBuffered is the most not-yet-processed bytes one connection may
	// carry. MaxMeta + MaxBuffered + a record header fit in one frame, so
	// every valid connection can be sent.
	MaxBuffered = 512 << 10
	// MaxReason bounds the text of an abort or a refusal; longer reasons are
	// truncated by the sender.
	MaxReason = 1024

	headerSize = 12
	// stateChunk is how much of a state blob one frame carries.
	stateChunk = 256 << 10
	// maxHello bounds the hello payload. Version 1 uses 12 bytes; later
	// versions may append fields, which older peers ignore.
	maxHello = 256
	// helloVersion is the header version of every hello frame, forever, so
	// that any two builds can read each other's hello and agree (or fail
	// cleanly) on a version.
	helloVersion = 1
)

// magic opens every frame: a peer that is not speaking this protocol at all
// (a stray connection, a byte stream out of sync) is told apart from one
// that speaks another version of it.
var magic = [4]byte{'H', 'O', 'V', 'R'}

// frameType says what a frame carries. The numbers are wire values: never
// reuse one.
type frameType uint8

const (
	frameHello       frameType = 1  // both ways, first frame
	frameConns       frameType = 2  // sender → receiver, with descriptors
	frameConnsAck    frameType = 3  // receiver → sender
	frameStateBegin  frameType = 4  // sender → receiver
	frameStateChunk  frameType = 5  // sender → receiver
	frameStateEnd    frameType = 6  // sender → receiver
	frameStateResult frameType = 7  // receiver → sender
	frameDone        frameType = 8  // sender → receiver
	frameDoneAck     frameType = 9  // receiver → sender
	frameAbort       frameType = 10 // both ways
	frameCounters    frameType = 11 // sender → receiver, version 2 (counters.go)
	frameReady       frameType = 12 // receiver → sender, takeover only (Receiver.Ready)
)

// flagCancelled on a StateEnd frame: the blob ends early and must be
// discarded.
const flagCancelled uint16 = 1

var frameNames = map[frameType]string{
	frameHello: "hello", frameConns: "conns", frameConnsAck: "conns-ack",
	frameStateBegin: "state-begin", frameStateChunk: "state-chunk", frameStateEnd: "state-end",
	frameStateResult: "state-result", frameDone: "done", frameDoneAck: "done-ack", frameAbort: "abort", frameCounters: "counters",
	frameReady: "ready",
}

func (t frameType) String() string {
	if s, ok := frameNames[t]; ok {
		return s
	}
	return "unknown type " + strconv.Itoa(int(t))
}

// limits returns the largest payload and the flags a frame type allows.
func (t frameType) limits() (maxLen uint32, flags uint16) {
	switch t {
	case frameHello:
		return maxHello, 0
	case frameConns, frameStateChunk:
		return MaxPayload, 0
	case frameConnsAck, frameStateBegin, frameDone, frameDoneAck, frameReady:
		return 8, 0
	case frameStateEnd:
		return stateEndSize, flagCancelled
	case frameStateResult:
		return 5 + MaxReason, 0
	case frameAbort:
		return MaxReason, 0
	case frameCounters:
		return maxCountersPayload, 0
	}
	return 0, 0
}

// header is the fixed part of every frame, big-endian on the wire:
//
//	magic [4]byte  "HOVR"
//	version uint8  protocol version the frame is written in
//	type uint8     frameType
//	flags uint16   per type; undefined bits must be zero
//	length uint32  payload bytes that follow
type header struct {
	version uint8
	typ     frameType
	flags   uint16
	length  uint32
}

func (h header) put(b []byte) {
	copy(b[0:4], magic[:])
	b[4] = h.version
	b[5] = byte(h.typ)
	binary.BigEndian.PutUint16(b[6:8], h.flags)
	binary.BigEndian.PutUint32(b[8:12], h.length)
}

// parseHeader decodes and checks a header against the version the stream
// speaks. It refuses unknown types, undefined flags and payloads over the
// type's limit, so callers may allocate h.length bytes.
func parseHeader(b []byte, version uint8) (header, error) {
	if [4]byte(b[0:4]) != magic {
		return header{}, fmt.Errorf("%w: bad magic %q: the peer does not speak the handover protocol", ErrProtocol, b[0:4])
	}
	h := header{
		version: b[4],
		typ:     frameType(b[5]),
		flags:   binary.BigEndian.Uint16(b[6:8]),
		length:  binary.BigEndian.Uint32(b[8:12]),
	}
	want := version
	if h.typ == frameHello {
		want = helloVersion
	}
	if h.version != want {
		return h, fmt.Errorf("%w: %s frame written in protocol version %d, expected %d", ErrProtocol, h.typ, h.version, want)
	}
	maxLen, flags := h.typ.limits()
	if maxLen == 0 {
		return h, fmt.Errorf("%w: frame of %s (version %d)", ErrProtocol, h.typ, h.version)
	}
	if h.flags&^flags != 0 {
		return h, fmt.Errorf("%w: %s frame with undefined flags %#x", ErrProtocol, h.typ, h.flags&^flags)
	}
	if h.length > maxLen {
		return h, fmt.Errorf("%w: %w: %s frame announces %d bytes, the limit is %d", ErrProtocol, ErrFrameTooLarge, h.typ, h.length, maxLen)
	}
	return h, nil
}

// appendFrame appends a whole frame to b.
func appendFrame(b []byte, version uint8, t frameType, flags uint16, payload []byte) []byte {
	var hdr [headerSize]byte
	header{version: version, typ: t, flags: flags, length: uint32(len(payload))}.put(hdr[:])
	return append(append(b, hdr[:]...), payload...)
}

// readMsgFunc is recvmsg: it fills b and oob and returns what it read.
// (*net.UnixConn).ReadMsgUnix fits, and the fuzz test feeds plain bytes.
type readMsgFunc func(b, oob []byte) (n, oobn, flags int, err error)

// frameReader reads frames from a stream socket together with the
// descriptors that ride on them.
//
// With SOCK_STREAM the kernel attaches SCM_RIGHTS descriptors to the bytes
// of the sendmsg that carried them, and hands them out with the first read
// that returns any of those bytes. The sender writes each frame with one
// sendmsg whose first byte is the frame's first byte, and the reader never
// asks for a byte past the end of the current frame, so every descriptor
// received while reading a frame belongs to that frame and to no other.
type frameReader struct {
	readMsg readMsgFunc
	version uint8 // negotiated version; helloVersion until then
	// takesFDs is set on the receiving end once its handshake is done:
	// only there does a conns frame carry descriptors somebody will take.
	// Everywhere else (the handshake of either side, the sender reading
	// replies) every descriptor that arrives is closed with its frame.
	takesFDs bool
	hdr      [headerSize]byte
	oob      []byte
	fds      []int // received with the current frame, owned by the reader until taken
}

func newFrameReader(read readMsgFunc) *frameReader {
	return &frameReader{
		readMsg: read,
		version: helloVersion,
		oob:     make([]byte, oobSpace(MaxFDsPerFrame)),
	}
}

// fill reads exactly len(b) bytes of the current frame. It returns io.EOF
// when the stream ended before the first byte, io.ErrUnexpectedEOF after.
func (fr *frameReader) fill(b []byte) error {
	got := 0
	for got < len(b) {
		n, oobn, flags, err := fr.readMsg(b[got:], fr.oob)
		if oobn > 0 {
			if cerr := fr.collect(fr.oob[:oobn]); cerr != nil {
				return cerr
			}
		}
		if flags&msgCtrunc != 0 {
			// The kernel dropped descriptors it could not install: this
			// process is out of them (EMFILE), or the sender broke the
			// limit. Either way this side cannot serve the frame.
			return fmt.Errorf("%w: descriptors truncated: out of descriptors here (EMFILE), or more than %d in one message", ErrNotServed, MaxFDsPerFrame)
		}
		got += n
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n == 0 || err != nil {
			if got > 0 {
				return io.ErrUnexpectedEOF
			}
			return io.EOF
		}
	}
	return nil
}

// collect keeps the descriptors of SCM_RIGHTS messages in oob.
func (fr *frameReader) collect(oob []byte) error {
	fds, err := parseRights(oob)
	fr.fds = append(fr.fds, fds...)
	if err != nil {
		return err
	}
	if len(fr.fds) > MaxFDsPerFrame {
		return fmt.Errorf("%w: %d descriptors in one frame, the limit is %d", ErrProtocol, len(fr.fds), MaxFDsPerFrame)
	}
	return nil
}

// readHeader reads and checks the next frame's header.
func (fr *frameReader) readHeader() (header, error) {
	if err := fr.fill(fr.hdr[:]); err != nil {
		if err == io.EOF {
			return header{}, io.EOF
		}
		return header{}, fmt.Errorf("read frame header: %w", err)
	}
	return parseHeader(fr.hdr[:], fr.version)
}

// readFrame reads one whole frame. The payload is freshly allocated (callers
// may keep slices of it). Descriptors that came with a conns frame, on a
// reader that takes them (takesFDs), stay in fr.fds: the caller takes them
// (takeFDs) or drops them (closeFDs). On error, for any other frame type,
// and on a reader that takes none, the reader has already closed them and
// a frame that brought any is refused (ErrProtocol): a peer cannot make this
// side keep a descriptor it never asked for.
func (fr *frameReader) readFrame() (header, []byte, error) {
	h, err := fr.readHeader()
	if err != nil {
		fr.closeFDs()
		return h, nil, err
	}
	p, err := fr.readPayload(h)
	if err != nil {
		return h, nil, err
	}
	if h.typ != frameConns || !fr.takesFDs {
		if err := fr.refuseFDs(h); err != nil {
			return h, nil, err
		}
	}
	return h, p, nil
}

// readPayload reads the payload that h announced (h came from parseHeader,
// so h.length is within limits).
func (fr *frameReader) readPayload(h header) ([]byte, error) {
	p := make([]byte, h.length)
	if err := fr.fill(p); err != nil {
		fr.closeFDs()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %s frame: %w", h.typ, err)
	}
	return p, nil
}

// refuseFDs closes descriptors that arrived on a frame that carries none.
func (fr *frameReader) refuseFDs(h header) error {
	if n := len(fr.fds); n > 0 {
		fr.closeFDs()
		return fmt.Errorf("%w: %d descriptors on a %s frame", ErrProtocol, n, h.typ)
	}
	return nil
}

// takeFDs hands the current frame's descriptors to the caller.
func (fr *frameReader) takeFDs() []int {
	fds := fr.fds
	fr.fds = nil
	return fds
}

// closeFDs closes descriptors that nobody took.
func (fr *frameReader) closeFDs() {
	closeAll(fr.fds)
	fr.fds = nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		closeFD(fd)
	}
}

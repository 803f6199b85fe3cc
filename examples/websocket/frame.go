package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf8"
)

// Opcodes (RFC 6455 section 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close statuses this server sends besides 1012 (RFC 6455 section 7.4.1).
const (
	closeProtocolError = 1002
	closeInvalidData   = 1007
	closeTooBig        = 1009
)

// maxMessage bounds a message, fragments included: a longer one is
// refused with status 1009 before its payload is read.
const maxMessage = 1 << 20

// A frame is a client's frame, unmasked, or a whole message reassembled
// from fragments (fin set, op text or binary).
type frame struct {
	fin     bool
	op      byte
	payload []byte
}

// A protocolError is a client's breach of RFC 6455: the server answers it
// with a Close frame of that status and closes the connection.
type protocolError struct {
	status uint16
	msg    string
}

func (e *protocolError) Error() string {
	return fmt.Sprintf("websocket protocol error %d: %s", e.status, e.msg)
}

func protoErr(status uint16, format string, args ...any) error {
	return &protocolError{status: status, msg: fmt.Sprintf(format, args...)}
}

// readFrame reads one client frame (RFC 6455 section 5.2): the payload
// length in 7, 16 or 64 bits, the mask, which a client must set, and the
// payload, unmasked. A payload longer than limit is not read.
func readFrame(r io.Reader, limit int) (frame, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return frame{}, err
	}
	f := frame{fin: hdr[0]&0x80 != 0, op: hdr[0] & 0x0f}
	if hdr[0]&0x70 != 0 {
		return frame{}, protoErr(closeProtocolError, "reserved bits set (no extension was negotiated)")
	}
	if hdr[1]&0x80 == 0 {
		return frame{}, protoErr(closeProtocolError, "client frame not masked")
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(hdr[:2]))
	case 127:
		if _, err := io.ReadFull(r, hdr[:8]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(hdr[:8])
		if n>>63 != 0 {
			return frame{}, protoErr(closeProtocolError, "64-bit length with the high bit set")
		}
	}
	switch f.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !f.fin || n > 125 {
			return frame{}, protoErr(closeProtocolError, "control frame fragmented or longer than 125 bytes")
		}
	default:
		return frame{}, protoErr(closeProtocolError, "unknown opcode %#x", f.op)
	}
	if n > uint64(limit) {
		return frame{}, protoErr(closeTooBig, "frame of %d bytes, the limit is %d", n, limit)
	}
	var key [4]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return frame{}, err
	}
	f.payload = make([]byte, n)
	if _, err := io.ReadFull(r, f.payload); err != nil {
		return frame{}, err
	}
	for i := range f.payload {
		f.payload[i] ^= key[i&3]
	}
	return f, nil
}

// appendFrame appends to b a server frame (final, unmasked) whose payload
// is the concatenation of parts.
func appendFrame(b []byte, op byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// closePayload is a Close frame's payload: the status, then the reason
// (short: control frames carry at most 125 bytes).
func closePayload(status uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, status), reason...)
}

// checkClose validates a client's Close payload (RFC 6455 sections 5.5.1
// and 7.4) and returns its status, 0 if it has none.
func checkClose(p []byte) (uint16, error) {
	switch len(p) {
	case 0:
		return 0, nil
	case 1:
		return 0, protoErr(closeProtocolError, "close payload of 1 byte")
	}
	status := binary.BigEndian.Uint16(p)
	switch {
	case status < 1000, status >= 5000,
		status == 1004, status == 1005, status == 1006, status == 1015,
		status > 1014 && status < 3000:
		return 0, protoErr(closeProtocolError, "close status %d may not be sent", status)
	case !utf8.Valid(p[2:]):
		return 0, protoErr(closeInvalidData, "close reason is not UTF-8")
	}
	return status, nil
}

// An assembler turns frames into messages: it joins a fragmented
// message's frames (RFC 6455 section 5.4), lets control frames through,
// which may come between fragments, and checks that text is UTF-8.
type assembler struct {
	op  byte // the message being assembled, 0 if none
	msg []byte
}

// add takes the next frame and returns the message or control frame it
// completes, if any.
func (a *assembler) add(f frame) (frame, bool, error) {
	switch f.op {
	case opClose, opPing, opPong:
		return f, true, nil
	case opContinuation:
		if a.op == 0 {
			return frame{}, false, protoErr(closeProtocolError, "continuation frame outside a message")
		}
		if len(a.msg)+len(f.payload) > maxMessage {
			return frame{}, false, protoErr(closeTooBig, "message longer than %d bytes", maxMessage)
		}
		a.msg = append(a.msg, f.payload...)
	default: // text or binary
		if a.op != 0 {
			return frame{}, false, protoErr(closeProtocolError, "new message before the previous one ended")
		}
		a.op, a.msg = f.op, f.payload
	}
	if !f.fin {
		return frame{}, false, nil
	}
	m := frame{fin: true, op: a.op, payload: a.msg}
	a.op, a.msg = 0, nil
	if m.op == opText && !utf8.Valid(m.payload) {
		return frame{}, false, protoErr(closeInvalidData, "text message is not UTF-8")
	}
	return m, true, nil
}

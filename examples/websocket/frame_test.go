package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// RFC 6455 section 1.3's example.
func TestAcceptKey(t *testing.T) {
	if got, want := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Fatalf("acceptKey = %q, want %q", got, want)
	}
}

// clientFrame is a masked frame as a client sends it, with a fixed key.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	return maskedFrame(fin, op, [4]byte{0x37, 0xfa, 0x21, 0x3d}, payload)
}

// maskedFrame is a client's frame masked with key.
func maskedFrame(fin bool, op byte, key [4]byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, key[:]...)
	for i, x := range payload {
		b = append(b, x^key[i&3])
	}
	return b
}

// Payload lengths at the edges of the 7-, 16- and 64-bit encodings, both
// ways: client frames read, server frames written.
func TestFrameLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 70_000} {
		payload := bytes.Repeat([]byte("ab"), n/2+1)[:n]
		f, err := readFrame(bytes.NewReader(clientFrame(true, opBinary, payload)), maxMessage)
		if err != nil || !f.fin || f.op != opBinary || !bytes.Equal(f.payload, payload) {
			t.Fatalf("read %d bytes: fin %v op %d len %d, %v", n, f.fin, f.op, len(f.payload), err)
		}
		out := appendFrame(nil, opText, payload[:n/2], payload[n/2:])
		hdr := 2
		switch {
		case n > 0xffff:
			hdr += 8
		case n > 125:
			hdr += 2
		}
		if len(out) != hdr+n || out[0] != 0x81 || out[1]&0x80 != 0 || !bytes.Equal(out[hdr:], payload) {
			t.Fatalf("write %d bytes: header % x, %d bytes in all", n, out[:hdr], len(out))
		}
	}
}

func status(err error) uint16 {
	var pe *protocolError
	if errors.As(err, &pe) {
		return pe.status
	}
	return 0
}

func TestReadFrameRefuses(t *testing.T) {
	unmasked := clientFrame(true, opText, []byte("hi"))
	unmasked[1] &^= 0x80
	rsv := clientFrame(true, opText, []byte("hi"))
	rsv[0] |= 0x40
	for name, tc := range map[string]struct {
		frame  []byte
		status uint16
	}{
		"unmasked":           {unmasked, closeProtocolError},
		"reserved bit":       {rsv, closeProtocolError},
		"unknown opcode":     {clientFrame(true, 0x3, nil), closeProtocolError},
		"fragmented ping":    {clientFrame(false, opPing, nil), closeProtocolError},
		"long ping":          {clientFrame(true, opPing, make([]byte, 126)), closeProtocolError},
		"longer than limit":  {clientFrame(true, opBinary, make([]byte, 70_000))[:14], closeTooBig}, // refused before its payload
		"cut in the payload": {clientFrame(true, opBinary, make([]byte, 10))[:8], 0},
	} {
		_, err := readFrame(bytes.NewReader(tc.frame), 65536)
		if err == nil || status(err) != tc.status {
			t.Errorf("%s: err %v (status %d), want status %d", name, err, status(err), tc.status)
		}
		if tc.status == 0 && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err %v, want io.ErrUnexpectedEOF", name, err)
		}
	}
}

// A fragmented message with a ping between its fragments.
func TestAssembler(t *testing.T) {
	var a assembler
	steps := []struct {
		in   frame
		out  string
		ok   bool
		stat uint16
	}{
		{frame{false, opText, []byte("hel")}, "", false, 0},
		{frame{true, opPing, []byte("p")}, "p", true, 0},
		{frame{false, opContinuation, []byte("lo ")}, "", false, 0},
		{frame{true, opContinuation, []byte("world")}, "hello world", true, 0},
		{frame{true, opContinuation, []byte("x")}, "", false, closeProtocolError},
	}
	for i, s := range steps {
		f, ok, err := a.add(s.in)
		if ok != s.ok || string(f.payload) != s.out || status(err) != s.stat {
			t.Fatalf("step %d: %q %v %v, want %q %v status %d", i, f.payload, ok, err, s.out, s.ok, s.stat)
		}
	}
	if _, _, err := a.add(frame{true, opText, []byte{0xff}}); status(err) != closeInvalidData {
		t.Fatalf("invalid UTF-8: %v, want status %d", err, closeInvalidData)
	}
}

func TestCheckClose(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		want    uint16
		status  uint16
	}{
		{nil, 0, 0},
		{closePayload(1000, "bye"), 1000, 0},
		{closePayload(1012, ""), 1012, 0},
		{closePayload(4000, ""), 4000, 0},
		{[]byte{0x03}, 0, closeProtocolError},
		{closePayload(1005, ""), 0, closeProtocolError},
		{closePayload(999, ""), 0, closeProtocolError},
		{closePayload(2000, ""), 0, closeProtocolError},
		{closePayload(1000, "\xff"), 0, closeInvalidData},
	} {
		got, err := checkClose(tc.payload)
		if got != tc.want || status(err) != tc.status {
			t.Errorf("checkClose(% x) = %d, %v; want %d, status %d", tc.payload, got, err, tc.want, tc.status)
		}
	}
}

// Requests that are not a WebSocket handshake get an HTTP error.
func TestHandshakeRefusals(t *testing.T) {
	s := newServer(slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(http.HandlerFunc(s.handleWS))
	defer ts.Close()
	for _, tc := range []struct {
		method, version, key string
		want                 int
	}{
		{http.MethodPost, "13", "dGhlIHNhbXBsZSBub25jZQ==", http.StatusMethodNotAllowed},
		{http.MethodGet, "8", "dGhlIHNhbXBsZSBub25jZQ==", http.StatusUpgradeRequired},
		{http.MethodGet, "13", "c2hvcnQ=", http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL, strings.NewReader(""))
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", tc.version)
		req.Header.Set("Sec-WebSocket-Key", tc.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s version %s key %s: %s, want %d", tc.method, tc.version, tc.key, resp.Status, tc.want)
		}
	}
}

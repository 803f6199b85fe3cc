package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// verdict is what a parse of one response concluded, in a form that both
// readers can be compared on.
type verdict struct {
	err      string // "", "eof", "unexpected-eof", "malformed" or the error
	status   int
	close    bool
	pid      int
	hasPID   bool
	id, head string
	consumed int
}

func errClass(err error) string {
	switch {
	case err == nil:
		return ""
	case err == io.EOF:
		return "eof"
	case err == io.ErrUnexpectedEOF:
		return "unexpected-eof"
	case errors.Is(err, errMalformed):
		return "malformed"
	}
	return err.Error()
}

func (v verdict) String() string { return fmt.Sprintf("%+v", struct{ verdict }{v}) }

// viaReader parses in with readResponse.
func viaReader(in []byte, head bool, bufSize int) verdict {
	var r response
	br := bufio.NewReaderSize(strings.NewReader(string(in)), bufSize)
	err := r.readResponse(br, head)
	if err != nil {
		return verdict{err: errClass(err)}
	}
	rest, _ := io.ReadAll(br)
	return verdict{status: r.status, close: r.close, pid: r.pid, hasPID: r.hasPID, id: string(r.reqID), head: string(r.head), consumed: len(in) - len(rest)}
}

// viaFeed parses in with feed, offering it in pieces of the given sizes
// (cycled), the way reads deliver a response, then eof.
func viaFeed(in []byte, head bool, pieces []int) verdict {
	var r response
	r.begin(head)
	var held []byte // offered but not consumed
	off := 0
	for i := 0; ; i++ {
		if off < len(in) {
			k := len(in) - off
			if len(pieces) > 0 {
				k = min(k, max(1, pieces[i%len(pieces)]))
			}
			held = append(held, in[off:off+k]...)
			off += k
		}
		n, done, err := r.feed(held)
		held = held[n:]
		switch {
		case err != nil:
			return verdict{err: errClass(err)}
		case done:
			return verdict{status: r.status, close: r.close, pid: r.pid, hasPID: r.hasPID, id: string(r.reqID), head: string(r.head), consumed: off - len(held)}
		case off == len(in):
			if err := r.eof(len(held)); err != nil {
				return verdict{err: errClass(err)}
			}
			return verdict{status: r.status, close: r.close, pid: r.pid, hasPID: r.hasPID, id: string(r.reqID), head: string(r.head), consumed: off}
		}
	}
}

func TestFeedAgreesWithReadResponse(t *testing.T) {
	long := strings.Repeat("x", 10000)
	edge := "HTTP/1.1 200 OK\r\nX: "
	inputs := []string{
		"HTTP/1.1 200 OK\r\nX-Pid: 42\r\nx-request-id: abc\r\nContent-Length: 5\r\n\r\nhelloNEXT",
		"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n1234\nhi\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n1234\r\nA\r\n\nabcdefghi\r\n0\r\nTrailer: x\r\n\r\nNEXT",
		"HTTP/1.1 200 OK\r\n\r\neverything until close",
		"HTTP/1.1 503 Busy\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\nNEXT",
		"HTTP/1.1 200\nContent-Length: 2\n\nokNEXT",
		"HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\nX-Pid: 7\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + strings.Repeat("y", 40),
		"",
		"HTTP/1.1 200 OK\r\nContent-Le",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
		"HTTP/1.1 200",
		"SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", maxHeaderLine+10) + "\r\n\r\n",
		// A header line of exactly maxHeaderLine bytes (CRLF included)
		// passes; one byte more does not.
		edge + strings.Repeat("z", maxHeaderLine-len("X: ")-2) + "\r\nContent-Length: 0\r\n\r\n",
		edge + strings.Repeat("z", maxHeaderLine-len("X: ")-1) + "\r\nContent-Length: 0\r\n\r\n",
	}
	for _, in := range inputs {
		for _, head := range []bool{false, true} {
			want := viaReader([]byte(in), head, 4096)
			for _, pieces := range [][]int{nil, {1}, {2, 3}, {7}, {100, 1}} {
				if got := viaFeed([]byte(in), head, pieces); got != want {
					t.Errorf("%.50q head %v pieces %v:\nfeed   %v\nreader %v", in, head, pieces, got, want)
				}
			}
		}
	}
	if v := viaFeed([]byte(inputs[0]), false, nil); v.err != "" || v.pid != 42 || v.id != "abc" || v.head != "hello" || v.consumed != len(inputs[0])-len("NEXT") {
		t.Fatalf("feed of a plain response: %v", v)
	}
}

// Any input, offered in any pieces, gets the same verdict from both readers.
func FuzzFeedAgreesWithReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"), false, uint8(3), uint8(1))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pid: 9\r\n\r\nabc"), true, uint8(1), uint8(5))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody"), false, uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, head bool, a, b uint8) {
		want := viaReader(in, head, 16)
		if got := viaFeed(in, head, []int{int(a), int(b)}); got != want {
			t.Fatalf("%q head %v pieces %d,%d:\nfeed   %v\nreader %v", in, head, a, b, got, want)
		}
	})
}

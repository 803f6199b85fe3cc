package loadgen

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	long := strings.Repeat("x", 10000)
	for _, tc := range []struct {
		name, in string
		head     bool
		status   int
		close    bool
		pid      int
		id       string
		body     string // the head of the body that is kept
		rest     string // what must remain unread
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nX-Pid: 42\r\nx-request-id: abc\r\nContent-Length: 5\r\n\r\nhelloNEXT",
			status: 200, pid: 42, id: "abc", body: "hello", rest: "NEXT"},
		{name: "pid in the body only", in: "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n1234\nhi\n", status: 200, body: "1234\nhi\n"},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n1234\r\nA\r\n\nabcdefghi\r\n0\r\nTrailer: x\r\n\r\nNEXT",
			status: 200, body: "1234\nabcdefghi", rest: "NEXT"},
		{name: "to EOF", in: "HTTP/1.1 200 OK\r\n\r\neverything until close", status: 200, close: true, body: "everything until close"},
		{name: "connection close", in: "HTTP/1.1 503 Busy\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", status: 503, close: true},
		{name: "http/1.0", in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200, close: true},
		{name: "http/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", status: 200},
		{name: "interim 100 skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", status: 201, body: "x"},
		{name: "HEAD has no body", in: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nNEXT", head: true, status: 200, rest: "NEXT"},
		{name: "204 has no body", in: "HTTP/1.1 204 No Content\r\n\r\nNEXT", status: 204, rest: "NEXT"},
		{name: "no reason, LF only", in: "HTTP/1.1 200\nContent-Length: 2\n\nokNEXT", status: 200, body: "ok", rest: "NEXT"},
		{name: "long header", in: "HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\nX-Pid: 7\r\nContent-Length: 0\r\n\r\n", status: 200, pid: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 4096)
			var r response
			if err := r.readResponse(br, tc.head); err != nil {
				t.Fatal(err)
			}
			if r.status != tc.status || r.close != tc.close || r.pid != tc.pid || string(r.reqID) != tc.id || string(r.head) != firstN(tc.body, 32) {
				t.Fatalf("got status %d close %v pid %d id %q head %q", r.status, r.close, r.pid, r.reqID, r.head)
			}
			if rest, _ := io.ReadAll(br); string(rest) != tc.rest {
				t.Fatalf("left %q unread, want %q", rest, tc.rest)
			}
		})
	}
}

func firstN(s string, n int) string { return s[:min(len(s), n)] }

func TestReadResponseErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"HTTP/1.1 200 OK\r\nContent-Le", io.ErrUnexpectedEOF},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", io.ErrUnexpectedEOF},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", io.ErrUnexpectedEOF},
		{"HTTP/1.1 200", io.ErrUnexpectedEOF},
		{"SSH-2.0-OpenSSH\r\n", errMalformed},
		{"HTTP/1.1 2x0 OK\r\n\r\n", errMalformed},
		{"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", errMalformed},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errMalformed},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", errMalformed},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errMalformed},
		{"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("y", maxHeaderLine+10) + "\r\n\r\n", errMalformed},
	} {
		var r response
		err := r.readResponse(bufio.NewReader(strings.NewReader(tc.in)), false)
		if !errors.Is(err, tc.want) {
			t.Errorf("%.40q: err %v, want %v", tc.in, err, tc.want)
		}
	}
}

// The reader never panics and never reads past what it was given.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pid: 9\r\n\r\nabc"), true)
	f.Fuzz(func(t *testing.T, in []byte, head bool) {
		var r response
		r.readResponse(bufio.NewReaderSize(strings.NewReader(string(in)), 16), head)
	})
}

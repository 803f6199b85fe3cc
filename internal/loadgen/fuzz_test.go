package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"
)

// FuzzResponseReuse checks what the other two response fuzzers do not: a
// response object reused for the next response on the same connection (as
// every keep-alive connection does) forgets everything about the previous
// one. Two copies of any input, read back to back with one object, give the
// same verdict twice when the first copy ends where the second begins; and
// every accepted response stays within its bounds (status, head, id).
func FuzzResponseReuse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pid: 9\r\nX-Request-Id: a\r\n\r\nabc"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 204 No Content\r\n\r\n"), true)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx"), false)
	f.Fuzz(func(t *testing.T, in []byte, head bool) {
		one := bufio.NewReaderSize(bytes.NewReader(in), 16)
		var r response
		if r.readResponse(one, head) != nil {
			return
		}
		if r.status < 100 || r.status > 999 || len(r.head) > len(r.headBuf) || len(r.reqID) > len(r.idBuf) {
			t.Fatalf("accepted response out of bounds: status %d, head %d bytes, id %d bytes", r.status, len(r.head), len(r.reqID))
		}
		if r.length < 0 && !r.chunked {
			return // the body ends where the connection does: no second copy
		}
		if one.Buffered() != 0 || !atEOF(one) {
			return // the first copy does not end where the second begins
		}
		first := verdict{status: r.status, close: r.close, pid: r.pid, hasPID: r.hasPID, id: string(r.reqID), head: string(r.head)}

		two := bufio.NewReaderSize(bytes.NewReader(append(append([]byte(nil), in...), in...)), 16)
		var s response
		for i := range 2 {
			if err := s.readResponse(two, head); err != nil {
				t.Fatalf("copy %d of an accepted response refused: %v", i+1, err)
			}
			got := verdict{status: s.status, close: s.close, pid: s.pid, hasPID: s.hasPID, id: string(s.reqID), head: string(s.head)}
			if got != first {
				t.Fatalf("copy %d read with a reused response: %s; alone: %s", i+1, show(got), show(first))
			}
		}
	})
}

func atEOF(br *bufio.Reader) bool {
	_, err := br.Peek(1)
	return err != nil
}

// show prints a verdict's fields (verdict's own String omits some).
func show(v verdict) string {
	return fmt.Sprintf("status %d close %v pid %d hasPID %v id %q head %q", v.status, v.close, v.pid, v.hasPID, v.id, v.head)
}

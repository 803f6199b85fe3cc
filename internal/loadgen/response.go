package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// A minimal HTTP/1.x response reader for the hot path. http.ReadResponse
// builds an http.Header map, canonicalises every name and allocates a body
// reader per response, which made the load generator slower than wrk against
// the same server; this reads the status line and only the headers the load
// generator uses, and consumes the body (Content-Length, chunked, or up to
// EOF) without keeping it, except its first bytes, where servers such as
// examples/hello print their pid.

// errMalformed marks a response that is not HTTP/1.x (classified as
// OutcomeOther).
var errMalformed = errors.New("loadgen: malformed response")

// maxHeaderLine bounds one status or header line, as net/http bounds
// headers, so that a hostile server cannot grow our buffers without limit.
const maxHeaderLine = 64 << 10

// response is what readResponse extracts. Its byte slices point into
// buffers the response owns and reuses on the next call.
type response struct {
	status  int
	close   bool   // the connection must not be reused
	pid     int    // from X-Pid, 0 if absent
	hasPID  bool   // an X-Pid header was present
	reqID   []byte // X-Request-Id, nil if absent
	head    []byte // the first bytes of the body (at most len(headBuf))
	length  int64  // Content-Length, -1 if absent
	chunked bool
	http10  bool // the status line said HTTP/1.0
	headBuf [32]byte
	idBuf   [64]byte
	line    []byte // scratch for lines longer than the reader's buffer

	// The incremental parse (response_feed.go) only.
	state  feedState
	remain int64 // body bytes still to come in feedBody
	isHead bool  // the request was HEAD: no body
}

// readResponse reads one response from br, body included. head says the
// request was HEAD (no body). 1xx interim responses are skipped. io.EOF
// means the connection closed before the first byte; a close later is
// io.ErrUnexpectedEOF.
func (r *response) readResponse(br *bufio.Reader, head bool) error {
	for {
		if err := r.readHeader(br); err != nil {
			return err
		}
		if r.status >= 200 || r.status == 101 {
			break
		}
	}
	r.head = r.headBuf[:0]
	switch {
	case head || r.status == 204 || r.status == 304 || r.status == 101:
		return nil
	case r.chunked:
		return r.readChunked(br)
	case r.length >= 0:
		return r.readN(br, r.length)
	}
	// No framing: the body runs to the end of the connection.
	r.close = true
	for {
		err := r.readN(br, 1<<20)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readN consumes n body bytes, keeping the first ones in head.
func (r *response) readN(br *bufio.Reader, n int64) error {
	if k := min(int64(len(r.headBuf)-len(r.head)), n); k > 0 {
		m, err := io.ReadFull(br, r.headBuf[len(r.head):len(r.head)+int(k)])
		r.head = r.headBuf[:len(r.head)+m]
		if err != nil {
			return noEOF(err)
		}
		n -= k
	}
	for n > 0 {
		d, err := br.Discard(int(min(n, 1<<30)))
		n -= int64(d)
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// readChunked consumes a chunked body and its trailers.
func (r *response) readChunked(br *bufio.Reader) error {
	for {
		line, err := r.readLine(br)
		if err != nil {
			return noEOF(err)
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if err := r.readN(br, size); err != nil {
			return err
		}
		if line, err := r.readLine(br); err != nil || len(line) != 0 {
			if err != nil {
				return noEOF(err)
			}
			return fmt.Errorf("%w: no CRLF after chunk", errMalformed)
		}
	}
	for { // trailers, up to the empty line
		line, err := r.readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// readHeader reads a status line and the headers after it.
func (r *response) readHeader(br *bufio.Reader) error {
	r.resetHeader()
	line, err := r.readLine(br)
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	if err := r.parseStatusLine(line); err != nil {
		return err
	}
	for {
		line, err := r.readLine(br)
		if err != nil {
			return noEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
		if err := r.parseHeaderLine(line); err != nil {
			return err
		}
	}
}

// resetHeader forgets what the previous header said.
func (r *response) resetHeader() {
	r.status, r.close, r.pid, r.hasPID, r.reqID, r.length, r.chunked, r.http10 = 0, false, 0, false, nil, -1, false, false
}

// parseStatusLine parses "HTTP/1.1 200 OK" (the reason phrase may be
// empty). Both readers (this one and feed) use it and parseHeaderLine, so
// that they accept and reject exactly the same responses.
func (r *response) parseStatusLine(line []byte) error {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: status line %q", errMalformed, clip(line))
	}
	r.http10 = line[7] == '0'
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: status line %q", errMalformed, clip(line))
		}
		r.status = r.status*10 + int(c-'0')
	}
	r.close = r.http10
	return nil
}

// parseHeaderLine takes in one header line (not the empty one that ends
// the header), keeping only what the load generator uses.
func (r *response) parseHeaderLine(line []byte) error {
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return fmt.Errorf("%w: header %q", errMalformed, clip(line))
	}
	name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
	switch {
	case equalFold(name, "content-length"):
		n, ok := parseLength(value)
		if !ok || (r.length >= 0 && r.length != n) {
			return fmt.Errorf("%w: Content-Length %q", errMalformed, clip(value))
		}
		r.length = n
	case equalFold(name, "transfer-encoding"):
		// Only chunked is framed differently; it must come last.
		r.chunked = hasSuffixFold(value, "chunked")
	case equalFold(name, "connection"):
		if containsFold(value, "close") {
			r.close = true
		} else if r.http10 && containsFold(value, "keep-alive") {
			r.close = false
		}
	case equalFold(name, "x-pid"):
		r.hasPID = true
		r.pid = parsePID(value)
	case equalFold(name, "x-request-id"):
		r.reqID = append(r.idBuf[:0], value[:min(len(value), len(r.idBuf))]...)
	}
	return nil
}

// parseChunkSize parses a chunk-size line, extensions allowed.
func parseChunkSize(line []byte) (int64, error) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i] // chunk extensions
	}
	line = bytes.TrimSpace(line)
	var size int64
	if len(line) == 0 || len(line) > 15 {
		return 0, fmt.Errorf("%w: chunk size %q", errMalformed, clip(line))
	}
	for _, c := range line {
		v, ok := unhex(c)
		if !ok {
			return 0, fmt.Errorf("%w: chunk size %q", errMalformed, clip(line))
		}
		size = size<<4 | int64(v)
	}
	return size, nil
}

// headFrom keeps the first body bytes of b in head, up to len(headBuf).
func (r *response) headFrom(b []byte) {
	if k := min(len(r.headBuf)-len(r.head), len(b)); k > 0 {
		r.head = append(r.head, b[:k]...)
	}
}

// readLine returns the next line without its CRLF (or LF). The slice is
// valid until the next read.
func (r *response) readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// Longer than the reader's buffer: collect it in r.line.
		r.line = append(r.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(r.line) <= maxHeaderLine {
			line, err = br.ReadSlice('\n')
			r.line = append(r.line, line...)
		}
		if len(r.line) > maxHeaderLine {
			return nil, fmt.Errorf("%w: line longer than %d bytes", errMalformed, maxHeaderLine)
		}
		line = r.line
	}
	if err != nil {
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// noEOF turns io.EOF inside a response into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// equalFold compares ASCII case-insensitively; lower is lower case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func containsFold(b []byte, lower string) bool {
	for i := 0; i+len(lower) <= len(b); i++ {
		if equalFold(b[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

func hasSuffixFold(b []byte, lower string) bool {
	return len(b) >= len(lower) && equalFold(b[len(b)-len(lower):], lower)
}

// clip shortens b for error messages.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

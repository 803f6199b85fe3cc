package loadgen

import (
	"bytes"
	"fmt"
	"io"
)

// An incremental form of readResponse, for the event loop: a goroutine that
// drives many connections cannot block in a bufio.Reader until a response is
// complete, so it hands the parser whatever bytes have arrived and resumes
// when more do. It shares the line parsers (parseStatusLine,
// parseHeaderLine, parseChunkSize) with readResponse, and a differential
// fuzz test holds the two to the same verdict on every input.

// feedState is where an incremental parse stands.
type feedState uint8

const (
	feedStatus    feedState = iota // expecting a status line
	feedHeader                     // header lines, up to the empty one
	feedBody                       // remain bytes of body: Content-Length, or one chunk's data
	feedChunkSize                  // a chunk-size line
	feedChunkEnd                   // the empty line after a chunk's data
	feedTrailer                    // trailer lines, up to the empty one
	feedToEOF                      // a body without framing: everything until the peer closes
	feedDone                       // the response is complete
)

// begin prepares the parse of the response to one request; head says the
// request was HEAD (no body).
func (r *response) begin(head bool) {
	r.state, r.isHead, r.remain = feedStatus, head, 0
	r.resetHeader()
	r.head = r.headBuf[:0]
}

// feed parses as much of b as it can. It returns how many bytes it consumed
// and whether the response is complete. Header and chunk framing lines are
// consumed only whole, so the caller keeps the rest of b and offers it again
// with the bytes that follow; bytes after a complete response are never
// consumed (they belong to whatever comes next on the connection).
func (r *response) feed(b []byte) (n int, done bool, err error) {
	for {
		switch r.state {
		case feedDone:
			return n, true, nil
		case feedBody:
			k := int(min(r.remain, int64(len(b)-n)))
			r.headFrom(b[n : n+k])
			n += k
			r.remain -= int64(k)
			if r.remain > 0 {
				return n, false, nil
			}
			r.state = feedDone
			if r.chunked {
				r.state = feedChunkEnd
			}
		case feedToEOF:
			r.headFrom(b[n:])
			return len(b), false, nil
		default:
			i := bytes.IndexByte(b[n:], '\n')
			if i < 0 {
				if len(b)-n > maxHeaderLine {
					return n, false, errLineTooLong()
				}
				return n, false, nil
			}
			if i+1 > maxHeaderLine {
				return n, false, errLineTooLong()
			}
			line := b[n : n+i]
			if k := len(line); k > 0 && line[k-1] == '\r' {
				line = line[:k-1]
			}
			n += i + 1
			if err := r.feedLine(line); err != nil {
				return n, false, err
			}
		}
	}
}

// errLineTooLong is readLine's verdict on the same input.
func errLineTooLong() error {
	return fmt.Errorf("%w: line longer than %d bytes", errMalformed, maxHeaderLine)
}

// feedLine takes one whole line (without its line end) in the states that
// read lines.
func (r *response) feedLine(line []byte) error {
	switch r.state {
	case feedStatus:
		r.resetHeader()
		if err := r.parseStatusLine(line); err != nil {
			return err
		}
		r.state = feedHeader
	case feedHeader:
		if len(line) > 0 {
			return r.parseHeaderLine(line)
		}
		r.endHeader()
	case feedChunkSize:
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		r.state, r.remain = feedBody, size
		if size == 0 {
			r.state = feedTrailer
		}
	case feedChunkEnd:
		if len(line) != 0 {
			return fmt.Errorf("%w: no CRLF after chunk", errMalformed)
		}
		r.state = feedChunkSize
	case feedTrailer:
		if len(line) == 0 {
			r.state = feedDone
		}
	}
	return nil
}

// endHeader chooses how the body is framed, as readResponse does; an
// interim 1xx response is skipped.
func (r *response) endHeader() {
	if r.status < 200 && r.status != 101 {
		r.state = feedStatus
		return
	}
	r.head = r.headBuf[:0]
	switch {
	case r.isHead || r.status == 204 || r.status == 304 || r.status == 101:
		r.state = feedDone
	case r.chunked:
		r.state = feedChunkSize
	case r.length >= 0:
		r.state, r.remain = feedBody, r.length
	default:
		r.close = true // the body runs to the end of the connection
		r.state = feedToEOF
	}
}

// eof ends the parse at the peer's orderly close. pending is how many bytes
// the caller still holds unconsumed (the start of a line). It returns nil if
// that completes the response (a body that runs to the close), io.EOF if the
// connection closed before the first byte of a status line, and
// io.ErrUnexpectedEOF otherwise — readResponse's errors for the same input.
func (r *response) eof(pending int) error {
	switch {
	case r.state == feedToEOF || r.state == feedDone:
		r.state = feedDone
		return nil
	case r.state == feedStatus && pending == 0:
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

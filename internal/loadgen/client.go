package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"
)

// errAborted is returned by connect once the generator has been aborted, so
// that no new connection outlives the caller's context.
var errAborted = errors.New("loadgen: aborted")

// conn is one TCP connection and the buffers reused for every request on it.
type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	peek peeker
}

// client is one sequential HTTP/1.1 client: it has at most one connection
// and one request in flight. It never retries: whatever happens to a request
// that was written is that request's outcome.
type client struct {
	id        int
	g         *Generator
	addr      string
	timeout   time.Duration
	closeMode bool // send Connection: close and use a new connection per request

	// Preformatted requests; the X-Request-Id at idOff gets the sequence
	// number patched in.
	normal, slow       []byte
	normalOff, slowOff int
	slowFrac, slowAcc  float64
	prefix             []byte // id prefix: run and client
	seq                uint64 // next sequence number
	answered           answeredSet

	isHead bool     // HEAD: responses have no body
	resp   response // reused for every response

	mu      sync.Mutex // guards c (against abort) and waiting (against stop)
	c       *conn
	waiting bool // a held connection is idle, waiting for its next send time
	aborted bool
}

// result is the outcome of one request.
type result struct {
	outcome Outcome
	start   time.Time
	latency time.Duration
	pid     int
	status  int
	err     error
	// cut: the connection this request was written to was closed or reset
	// by the server (a failure that also ends a held connection).
	cut bool
	// dialFailed: the request never left because connecting failed.
	dialFailed bool
}

func newClient(g *Generator, id int, closeMode bool) *client {
	t := &g.target
	cl := &client{
		id:        id,
		g:         g,
		addr:      t.addr,
		timeout:   g.cfg.Timeout,
		closeMode: closeMode,
		prefix:    formatIDPrefix(g.runID, id),
		isHead:    t.method == "HEAD",
	}
	cl.normal, cl.normalOff = buildRequest(t, t.path, closeMode, cl.prefix)
	if t.slowPath != "" && g.cfg.SlowFraction > 0 {
		cl.slow, cl.slowOff = buildRequest(t, t.slowPath, closeMode, cl.prefix)
		cl.slowFrac = g.cfg.SlowFraction
		// Spread the clients' slow requests instead of sending them all
		// at once: start each accumulator at a different phase (golden ratio).
		cl.slowAcc = float64(id) * 0.6180339887498949
		cl.slowAcc -= float64(int(cl.slowAcc))
	}
	return cl
}

// buildRequest formats one request with a placeholder id and returns it with
// the offset of the id.
func buildRequest(t *target, path string, closeConn bool, prefix []byte) ([]byte, int) {
	b := make([]byte, 0, 160+len(path)+len(t.host)+len(t.body))
	b = append(b, t.method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: handoff-loadgen\r\nX-Request-Id: "...)
	off := len(b)
	b = append(b, prefix...)
	b = append(b, "0000000000"...)
	b = append(b, "\r\n"...)
	if t.sendCL {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(t.body)), 10)
		b = append(b, "\r\n"...)
	}
	if closeConn {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, t.body...)
	return b, off
}

// connect dials a new connection, bounded by deadline, and registers it so
// that an abort can close it.
func (cl *client) connect(ctx context.Context, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline, KeepAlive: -1}
	nc, err := d.DialContext(ctx, "tcp", cl.addr)
	if err != nil {
		return err
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}
	c.peek.init(nc)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.aborted {
		nc.Close()
		return errAborted
	}
	cl.c = c
	return nil
}

// drop closes the current connection, if any.
func (cl *client) drop() {
	cl.mu.Lock()
	c := cl.c
	cl.c = nil
	cl.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// abort closes the connection under any request in flight and refuses new
// ones; the caller's context is gone and nobody is counting any more.
func (cl *client) abort() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.aborted = true
	if cl.c != nil {
		cl.c.nc.Close()
	}
}

// pickSlow decides whether the next request goes to the slow path, by
// accumulating the fraction (exact over time, no random numbers).
func (cl *client) pickSlow() bool {
	if cl.slowFrac == 0 {
		return false
	}
	cl.slowAcc += cl.slowFrac
	if cl.slowAcc >= 1 {
		cl.slowAcc--
		return true
	}
	return false
}

// next returns the bytes of the client's next request, with its sequence
// number patched into the X-Request-Id at off.
func (cl *client) next() (tmpl []byte, off int, seq uint64) {
	tmpl, off = cl.normal, cl.normalOff
	if cl.pickSlow() {
		tmpl, off = cl.slow, cl.slowOff
	}
	seq = cl.seq
	cl.seq++
	putHex(tmpl[off+idPrefixLen:off+idLen], seq)
	return tmpl, off, seq
}

// failWith makes r a failure caused by err.
func (r *result) failWith(err error) {
	r.err = err
	r.outcome = classify(err)
	// The server closed or reset a connection that carried a request.
	r.cut = r.outcome == OutcomeReset || r.outcome == OutcomeEOF
}

// do sends one request and reads its response. It never retries.
func (cl *client) do(ctx context.Context) (res result) {
	tmpl, off, seq := cl.next()

	res.start = time.Now()
	deadline := res.start.Add(cl.timeout)
	fail := func(err error) result {
		res.latency = time.Since(res.start)
		res.failWith(err)
		cl.drop()
		return res
	}

	c := cl.c
	if c != nil {
		// A keep-alive connection the server closed while it was idle,
		// noticed before we write anything, costs a real client nothing: it
		// reconnects. So peek (without waiting) first. A close that arrives
		// after this check races our write and is counted below: that is
		// the race an upgrade must not lose.
		c.nc.SetDeadline(deadline) // also re-arms reads after a hold wait
		if h := cl.g.beforeReuse; h != nil {
			h(c.nc)
		}
		if c.br.Buffered() == 0 && c.peek.closed() {
			cl.drop()
			c = nil
		}
	}
	if c == nil {
		if err := cl.connect(ctx, deadline); err != nil {
			res.dialFailed = true
			return fail(err)
		}
		c = cl.c
		c.nc.SetDeadline(deadline)
	}

	if _, err := c.nc.Write(tmpl); err != nil {
		return fail(err)
	}
	resp := &cl.resp
	if err := resp.readResponse(c.br, cl.isHead); err != nil {
		return fail(err)
	}
	res.latency = time.Since(res.start)
	if !cl.judge(&res, tmpl[off:off+idLen], seq) {
		cl.drop()
	}
	return res
}

// judge sets res from the complete response in cl.resp to the request whose
// X-Request-Id was id (sequence number seq), and reports whether the
// connection may carry the next request. Both engines use it, so that they
// classify a response the same way.
func (cl *client) judge(res *result, id []byte, seq uint64) (reuse bool) {
	resp := &cl.resp
	res.status = resp.status
	if resp.hasPID {
		res.pid = resp.pid
	} else {
		res.pid = parsePID(firstLine(resp.head))
	}

	res.outcome = OutcomeOK
	if resp.status < 200 || resp.status > 299 {
		res.outcome = OutcomeBadStatus
	}
	if v := resp.reqID; v != nil && !bytes.Equal(v, id) {
		res.outcome = OutcomeMismatched
		if s, ok := parseIDSeq(string(v), cl.prefix); ok && s < seq && cl.answered.has(s) {
			res.outcome = OutcomeDuplicate
		}
		// Whatever answered us was not our response, so the stream is out
		// of step; a fresh connection stops one error from cascading.
		return false
	}
	cl.answered.add(seq)
	// After Connection: close from the server (or from us) the next
	// request reconnects, which is normal HTTP, not a failure.
	return !resp.close && !cl.closeMode
}

// firstLine returns b up to its first newline.
func firstLine(b []byte) []byte {
	for i, c := range b {
		if c == '\n' {
			return b[:i]
		}
	}
	return b
}

// parsePID parses a decimal pid surrounded by optional blanks; 0 means none.
func parsePID(b []byte) int {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	if len(b) == 0 || len(b) > 10 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > 1<<31-1 {
		return 0
	}
	return n
}

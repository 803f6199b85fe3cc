//go:build linux

package loadgen

import (
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// One client of an event loop: at most one connection and one request in
// flight, never retried, exactly as the goroutine engine's client.do, but
// as a state machine that the loop advances when epoll says its socket is
// ready.

// connState is where a connection's current request stands.
type connState uint8

const (
	connQueued     connState = iota // the next request starts on the loop's next turn
	connConnecting                  // a non-blocking connect is in progress
	connWriting                     // the request is partly written; waiting for room
	connReading                     // the request is written; waiting for the response
	connPaused                      // after a failed connect, until deadline (Config.ReconnectDelay)
	connDone                        // the client has finished
)

// evConn is one client driven by an event loop.
type evConn struct {
	l   *evLoop
	cl  *client
	sh  *shard
	idx int32 // index in l.conns, carried by its epoll events
	// gen counts the sockets this client opened; events carry it, so that
	// an event for a socket closed earlier in the same turn is ignored
	// even if the descriptor number was reused.
	gen   int32
	fd    int // -1: no connection
	state connState

	// more: the socket may hold input that no event will announce.
	// Registration is edge-triggered: an event says new input arrived, not
	// that some is still there, so after a read that filled the buffer, or
	// an event that came while no read was due, the next read must happen
	// without waiting for another event.
	more bool
	// hup: epoll said the peer shut down (or reset) the connection. Then a
	// short read does not mean "nothing more": the close itself is still to
	// be read, and no new event will announce it.
	hup bool
	// buf[r:w] is input received and not yet parsed: the unparsed part of
	// a response line, or whatever followed the last response (which then
	// belongs to the next one, as in a bufio.Reader).
	buf  []byte
	r, w int

	// The request in flight.
	tmpl     []byte // its bytes
	id       []byte // its X-Request-Id within tmpl
	seq      uint64
	sent     int   // bytes of tmpl written
	start    int64 // ns since the generator's start
	deadline int64 // ns since start: the timeout, or the end of a reconnect pause
	win      int   // the window it started in (Generator.window)
	// res is the request's result, kept here rather than on the stack
	// because handing it to the recorder would move it to the heap, once
	// per request; end is when it ended (ns since start).
	res result
	end int64
}

// startRequest sends the client's next request, connecting first if it has
// no usable connection.
func (c *evConn) startRequest() {
	g := c.l.g
	if g.stopping.Load() {
		c.finish()
		return
	}
	c.win = g.window()
	var off int
	c.tmpl, off, c.seq = c.cl.next()
	c.id = c.tmpl[off : off+idLen]
	c.sent = 0
	c.cl.resp.begin(c.cl.isHead)
	c.start = g.since()
	c.deadline = c.start + int64(c.cl.timeout)
	c.l.due(c.deadline)

	if c.fd >= 0 {
		// A keep-alive connection the server closed while it was idle,
		// noticed before we write anything, costs a real client nothing: it
		// reconnects. So check (without waiting) first. A close that
		// arrives after this check races our write and is counted: that is
		// the race an upgrade must not lose.
		if h := g.beforeReuseFD; h != nil {
			h(c.fd)
		}
		if c.r == c.w && peerClosed(c.fd, &c.l.peek) {
			c.closeFD()
		}
	}
	if c.fd < 0 {
		c.dial()
		return
	}
	c.write()
}

// dial opens a new connection for the request in flight and writes the
// request if the connect completed at once.
func (c *evConn) dial() {
	fd, inProgress, err := dialStart(c.l.sa, c.l.family)
	if err != nil {
		c.failDial(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)})
		return
	}
	c.gen++
	c.fd, c.more, c.hup, c.r, c.w = fd, false, false, 0, 0
	// Registered after connect, as the runtime's poller does: a socket
	// polled before connect reports a hang-up.
	c.l.ev = unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: c.idx, Pad: c.gen}
	if err := unix.EpollCtl(c.l.epfd, unix.EPOLL_CTL_ADD, fd, &c.l.ev); err != nil {
		c.closeFD()
		c.failDial(os.NewSyscallError("epoll_ctl", err))
		return
	}
	if inProgress {
		c.state = connConnecting
		return
	}
	c.write()
}

// onEvent advances the connection on what epoll reported for its socket.
func (c *evConn) onEvent(events uint32) {
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.more = true
	}
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.hup = true
	}
	switch c.state {
	case connConnecting:
		if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			if err := connectError(c.fd); err != nil {
				c.closeFD()
				c.failDial(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)})
				return
			}
			// Connected, then closed: the write or the read says how.
		} else if events&unix.EPOLLOUT == 0 {
			return
		}
		c.write()
	case connWriting:
		c.write()
	case connReading:
		c.read()
	}
}

// write sends what is left of the request, then reads the response.
func (c *evConn) write() {
	for c.sent < len(c.tmpl) {
		n, err := send(c.fd, c.tmpl[c.sent:])
		switch err {
		case nil:
			c.sent += n
		case unix.EINTR:
		case unix.EAGAIN:
			c.state = connWriting // the next EPOLLOUT resumes
			return
		default:
			c.fail(&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", err)})
			return
		}
	}
	c.state = connReading
	if c.r < c.w || c.more {
		c.read()
	}
}

// read takes in whatever input the socket has and completes the request
// once its response is whole.
func (c *evConn) read() {
	resp := &c.cl.resp
	for {
		if c.r < c.w {
			n, done, err := resp.feed(c.buf[c.r:c.w])
			c.r += n
			if err != nil {
				c.fail(err)
				return
			}
			if done {
				c.complete(false)
				return
			}
		}
		if !c.more {
			return // the next EPOLLIN resumes
		}
		c.makeRoom()
		n, err := readSome(c.fd, c.buf[c.w:])
		switch {
		case err == unix.EAGAIN:
			c.more = false
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			c.fail(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", err)})
			return
		case n == 0:
			c.more = false
			if err := resp.eof(c.w - c.r); err != nil {
				c.fail(err)
				return
			}
			c.complete(true)
			return
		}
		// A short read emptied the socket (TCP copies all it has, up to the
		// buffer): input that arrives later raises a new event. But a close
		// already announced is read only by the next read.
		c.more = c.w+n == len(c.buf) || c.hup
		c.w += n
	}
}

// makeRoom makes buf[w:] non-empty: everything parsed is dropped, and a
// line longer than the buffer grows it (feed rejects lines over
// maxHeaderLine, so that stays bounded).
func (c *evConn) makeRoom() {
	switch {
	case c.r == c.w:
		c.r, c.w = 0, 0
	case c.w < len(c.buf):
	case c.r > 0:
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	default:
		c.buf = append(c.buf, make([]byte, len(c.buf))...)
	}
}

// complete records the request whose response is whole; eof says the peer
// closed the connection to end it.
func (c *evConn) complete(eof bool) {
	res := c.result(c.l.g.since())
	if !c.cl.judge(res, c.id, c.seq) || eof {
		c.closeFD()
	}
	c.record(res)
}

// result resets c.res for the request in flight, ended at end (ns since
// the generator's start), and returns it.
func (c *evConn) result(end int64) *result {
	c.end = end
	c.res = result{start: c.l.g.t0.Add(time.Duration(c.start)), latency: time.Duration(end - c.start)}
	return &c.res
}

// fail records the request in flight as failed with err; the connection
// cannot be trusted any more.
func (c *evConn) fail(err error) {
	res := c.result(c.l.g.since())
	res.failWith(err)
	c.closeFD()
	c.record(res)
}

// failDial records the request in flight as never sent: connecting failed.
func (c *evConn) failDial(err error) {
	res := c.result(c.l.g.since())
	res.dialFailed = true
	res.failWith(err)
	c.record(res)
}

// timeout fails the request in flight: no whole response by its deadline.
func (c *evConn) timeout(now int64) {
	op, dialing := "read", c.state == connConnecting
	switch c.state {
	case connConnecting:
		op = "dial"
	case connWriting:
		op = "write"
	}
	err := &net.OpError{Op: op, Net: "tcp", Err: os.ErrDeadlineExceeded}
	res := c.result(now)
	res.dialFailed = dialing
	res.failWith(err)
	c.closeFD()
	c.record(res)
}

// record counts the finished request and sets the client up for its next
// one: at once, after the reconnect delay if connecting failed, or never if
// the run is over.
func (c *evConn) record(res *result) {
	g := c.l.g
	if !g.finishAt(c.sh, res, c.win, c.end) {
		c.finish() // aborted: the loop is about to close everything
		return
	}
	if h := g.afterRequest; h != nil && !h(c.cl, res) {
		c.finish()
		return
	}
	if res.dialFailed && g.cfg.ReconnectDelay > 0 && !g.stopping.Load() {
		c.state = connPaused
		c.deadline = c.end + int64(g.cfg.ReconnectDelay)
		c.l.due(c.deadline)
		return
	}
	c.l.queue(c)
}

// finish ends the client: no more requests.
func (c *evConn) finish() {
	if c.state == connDone {
		return
	}
	c.closeFD()
	c.state = connDone
	c.l.live--
}

// closeFD closes the connection, if any; closing also removes it from
// epoll, and input left unparsed goes with it.
func (c *evConn) closeFD() {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.r, c.w, c.more, c.hup = 0, 0, false, false
}

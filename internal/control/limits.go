package control

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Limits bound what one client can hold of the control server. Only this
// uid and root can connect at all (the socket is 0600 in a 0700 directory,
// and peers are checked), so they guard against a stuck or buggy client, a
// script in a loop, more than against strangers.
type Limits struct {
	// MaxConns is the most connections served at once. One more is
	// answered 503 at once and closed: a client learns that the supervisor
	// is busy instead of waiting in the accept queue behind idle ones. A
	// slot is free when the server has closed its connection, which
	// net/http delays by up to 500 ms after an error response (it
	// half-closes first, so the client reads the whole answer).
	MaxConns int
	// HeaderTimeout bounds the wait for a request's header, from connect:
	// a client that connects and sends nothing is closed after it.
	HeaderTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no next
	// request (the handoff client sends one request per connection).
	IdleTimeout time.Duration
	// WriteTimeout bounds each write of a response: a client that stops
	// reading (say, an upgrade's event stream) is cut off after it. An
	// upgrade's stream as a whole may last much longer; it is not bounded,
	// and neither is a request's read once its header is in (a read
	// deadline there would cancel a long upgrade's stream).
	WriteTimeout time.Duration
}

// DefaultLimits are the limits Serve applies.
var DefaultLimits = Limits{
	MaxConns:      64,
	HeaderTimeout: 10 * time.Second,
	IdleTimeout:   30 * time.Second,
	WriteTimeout:  10 * time.Second,
}

// busyBody is what a connection over MaxConns reads before it is closed.
const busyBody = "handoff: control: too many control connections at once\n"

var busyResponse = "HTTP/1.1 503 Service Unavailable\r\n" +
	HeaderVersion + ": " + Version + "\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\n" +
	"Content-Length: " + strconv.Itoa(len(busyBody)) + "\r\n\r\n" + busyBody

// capListener serves at most max connections at once and turns the rest
// away with busyResponse.
type capListener struct {
	*net.UnixListener
	mu   sync.Mutex
	open int
	max  int
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		full := l.max > 0 && l.open >= l.max
		if !full {
			l.open++
		}
		l.mu.Unlock()
		if full {
			go turnAway(c)
			continue
		}
		return &cappedConn{UnixConn: c, l: l}, nil
	}
}

// turnAway answers busyResponse to the request on c and closes c. The
// answer waits for the request's header (500 ms at most): written before
// it, an HTTP client reads it as an unsolicited response and reports a
// broken connection instead of the 503; and closing before the client has
// written would fail its write with EPIPE, for the same result. A unix
// socket buffers far more than the answer, so the write does not block
// (the deadline covers a peer that is odd).
func turnAway(c *net.UnixConn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	br := bufio.NewReaderSize(io.LimitReader(c, 16<<10), 4096)
	for {
		line, err := br.ReadSlice('\n')
		if err != nil || len(line) <= 2 { // "\r\n" ends the header
			break
		}
	}
	c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(busyResponse)); err != nil {
		return
	}
	c.CloseWrite()
	io.Copy(io.Discard, io.LimitReader(c, 64<<10)) // until the client closes, or the read deadline
}

// cappedConn gives its slot back when it is closed.
type cappedConn struct {
	*net.UnixConn
	l    *capListener
	once sync.Once
}

func (c *cappedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.UnixConn.Close()
}

package testserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// KeepAlive is a raw HTTP/1.1 client on one TCP connection that never
// retries and never reconnects: what happens to this very connection (a
// close, a reset, "Connection: close", which pid answers) is what the test
// sees.
type KeepAlive struct {
	Conn net.Conn
	br   *bufio.Reader
}

// Answer is what a KeepAlive request got: the pid in X-Pid (0 if none),
// the status, whether the server closes the connection after it, the
// headers and the body.
type Answer struct {
	PID    int
	Code   int
	Status string
	Close  bool
	Header http.Header
	Body   []byte
}

// NewKeepAlive is the KeepAlive client of nc.
func NewKeepAlive(nc net.Conn) *KeepAlive { return &KeepAlive{Conn: nc, br: bufio.NewReader(nc)} }

// DialKeepAlive connects to addr; the connection is closed at the end of
// the test.
func DialKeepAlive(t testing.TB, addr string) *KeepAlive {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return NewKeepAlive(nc)
}

// Send writes a POST of path with a 5-byte body, without waiting for the
// answer (Receive reads it).
func (k *KeepAlive) Send(path string) error {
	return k.Write("POST " + path + " HTTP/1.1\r\nHost: held\r\nContent-Length: 5\r\n\r\nhello")
}

// Write writes raw, a request or a piece of one, as it is.
func (k *KeepAlive) Write(raw string) error {
	if _, err := io.WriteString(k.Conn, raw); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Receive reads the answer to the oldest request sent, and its body.
func (k *KeepAlive) Receive() (Answer, error) {
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return Answer{}, fmt.Errorf("read response: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return Answer{}, fmt.Errorf("read body: %w", err)
	}
	pid, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
	return Answer{PID: pid, Code: resp.StatusCode, Status: resp.Status, Close: resp.Close, Header: resp.Header, Body: body}, nil
}

// Post is Send and Receive.
func (k *KeepAlive) Post(path string) (Answer, error) {
	if err := k.Send(path); err != nil {
		return Answer{}, err
	}
	return k.Receive()
}

//go:build unix

package loadgen

import (
	"net"
	"syscall"
	"testing"
)

// waitReadable blocks until nc has data or EOF pending, without consuming
// it (bounded by the deadline the client set on nc).
func waitReadable(t *testing.T, nc net.Conn) {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A server that closes each keep-alive connection after answering, without
// saying Connection: close. When the client sees the close before writing
// its next request, nothing was lost: it must reconnect and count no
// failure.
func TestIdleCloseSeenBeforeWriteIsNotAFailure(t *testing.T) {
	accepted, closed, url := startAnswerThenClose(t)
	g := newTestGen(t, Config{URL: url, Clients: 1})
	// Make the test deterministic: before the client checks its idle
	// connection, wait until the server's close has actually arrived.
	g.beforeReuse = func(nc net.Conn) {
		waitFor(t, closed, "server close")
		waitReadable(t, nc)
	}
	rs := make([]result, 20)
	for i := range rs {
		rs[i] = g.busy[0].do(testCtx(t))
	}
	allOnFreshConnections(t, rs, accepted)
}

// The same server, but the client writes before it could know: the request
// was sent and lost, which is a failure and must be counted as one.
func TestCloseAfterWriteIsAFailure(t *testing.T) {
	url := startRaw(t, answerThenLoseTheNext)
	g := newTestGen(t, Config{URL: url, Clients: 1})
	if r := g.busy[0].do(testCtx(t)); r.outcome != OutcomeOK {
		t.Fatalf("first: outcome %v (err %v)", r.outcome, r.err)
	}
	r := g.busy[0].do(testCtx(t))
	if r.outcome != OutcomeEOF && r.outcome != OutcomeReset {
		t.Fatalf("second: outcome %v (err %v), want eof or reset", r.outcome, r.err)
	}
}

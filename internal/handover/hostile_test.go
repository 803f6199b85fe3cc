//go:build unix

package handover

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// badRounds is how many bad frames each test sends: issue 12 counted 50
// leaked descriptors of 50 before the fix.
const badRounds = 50

// waitFDs waits until this process has want descriptors open, and fails
// the test with both listings if it does not within a few seconds. A
// descriptor closed by another goroutine (the Sender's reader) is closed a
// moment later, so a single count right after the event could race it.
func waitFDs(t *testing.T, want []string, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := openFDs(t)
		if len(got) == len(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d descriptors open, want %d: the descriptors of an unconsumed frame were kept\nwant: %v\ngot:  %v",
				what, len(got), len(want), want, got)
		}
		runtime.Gosched()
	}
}

// hostileFDs skips off Linux (the tests count /proc/self/fd) and returns
// three real TCP socket descriptors for a hostile peer to attach to a frame.
func hostileFDs(t *testing.T) []int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	checkFDs(t)
	_, servers := tcpPairs(t, 3)
	return dupFDs(t, servers)
}

func conns3(t *testing.T) []byte {
	return appendFrame(nil, 1, frameConns, 0, appendConnsPayload(nil, 1, make([]Conn, 3)))
}

// A "receiver" that opens with a conns frame carrying descriptors instead
// of its hello: the listener refuses it and keeps none of them.
func TestHandshake_ListenerClosesDescriptorsOfAFrameInsteadOfHello(t *testing.T) {
	fds := hostileFDs(t)
	ln := listen(t)
	ctx := testCtx(t)
	before := openFDs(t)
	for i := range badRounds {
		accepted := make(chan error, 1)
		go func() {
			s, err := ln.Accept(ctx, Peer{})
			if s != nil {
				s.Close()
			}
			accepted <- err
		}()
		c, err := net.Dial("unix", ln.Path())
		if err != nil {
			t.Fatal(err)
		}
		p := newRawPeer(t, c.(*net.UnixConn))
		p.writeRaw(conns3(t), fds)
		if err := <-accepted; !errors.Is(err, ErrProtocol) {
			t.Fatalf("round %d: Accept = %v, want ErrProtocol", i, err)
		}
		c.Close()
		waitFDs(t, before, "listener after a conns frame instead of a hello")
	}
}

// An "old generation" that answers the new one's hello with a conns frame
// carrying descriptors: Dial refuses it and keeps none of them.
func TestHandshake_DialClosesDescriptorsOfAFrameInsteadOfHello(t *testing.T) {
	fds := hostileFDs(t)
	dir, err := os.MkdirTemp("", "handover-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testCtx(t)
	before := openFDs(t)
	for i := range badRounds {
		served := make(chan struct{})
		go func() {
			defer close(served)
			ln.SetDeadline(time.Now().Add(testTimeout))
			c, err := ln.AcceptUnix()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			p := &rawPeer{t: t, c: c}
			p.writeRaw(conns3(t), fds)
			// Wait for the receiver to hang up (its hello, then its abort).
			c.SetReadDeadline(time.Now().Add(testTimeout))
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
		_, err := Dial(ctx, path, Peer{})
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("round %d: Dial = %v, want ErrProtocol", i, err)
		}
		<-served
		waitFDs(t, before, "receiver after a conns frame instead of a hello")
	}
}

// A receiver that sends the old generation a conns frame with descriptors
// (something only a sender does): the Sender's reader closes them at once,
// while the channel is still open, and the next operation learns why.
func TestSender_ClosesDescriptorsOfAnUnexpectedReply(t *testing.T) {
	fds := hostileFDs(t)
	ln := listen(t)
	ctx := testCtx(t)
	for i := range badRounds {
		s, p := rawReceiverOn(t, ln)
		if h, _ := p.read(); h.typ != frameHello {
			t.Fatalf("round %d: first frame from the sender: %s", i, h.typ)
		}
		before := openFDs(t)
		p.writeRaw(conns3(t), fds)
		waitFDs(t, before, "open sender after a conns frame from the receiver")
		if err := s.Finish(ctx); !errors.Is(err, ErrProtocol) {
			t.Fatalf("round %d: Finish after a bad reply = %v, want ErrProtocol", i, err)
		}
		s.Close()
		p.c.Close()
	}
}

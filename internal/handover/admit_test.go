//go:build unix

package handover

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// A receiver that cannot serve a frame refuses it before confirming it:
// the sender keeps every connection of it, open and usable, and learns
// why; nothing was acknowledged that the receiver then dropped.
func TestAdmit_RefusedFrameStaysTheSenders(t *testing.T) {
	s, r := pair(t)
	ctx := testCtx(t)
	r.Admit(func(meta []byte) bool { return !bytes.Equal(meta, []byte("nobody")) })
	clients, servers := tcpPairs(t, 3)
	conns := []Conn{{Socket: servers[0], Meta: []byte("ok")}, {Socket: servers[1], Meta: []byte("nobody")}, {Socket: servers[2], Meta: []byte("ok")}}

	got := make(chan error, 1)
	go func() {
		for {
			it, err := r.Next(ctx)
			if err != nil {
				got <- err
				return
			}
			it.Conn.Close()
		}
	}()
	n, err := s.SendConns(ctx, conns)
	if n != 0 || !errors.Is(err, ErrAborted) {
		t.Fatalf("SendConns = %d, %v; want 0 and ErrAborted", n, err)
	}
	if rerr := <-got; !errors.Is(rerr, ErrNotServed) {
		t.Fatalf("receiver: %v, want ErrNotServed", rerr)
	}
	if s.Alive() {
		t.Fatal("the sender's channel is still alive after the receiver refused")
	}
	// Still the sender's: each connection answers through its own socket.
	for i, c := range clients {
		if _, err := servers[i].Write([]byte("still here")); err != nil {
			t.Fatalf("connection %d: the sender's socket: %v", i, err)
		}
		c.SetReadDeadline(time.Now().Add(testTimeout))
		buf := make([]byte, len("still here"))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still here" {
			t.Fatalf("connection %d: the client read %q, %v", i, buf, err)
		}
		if p := peek(t, c); p != "nothing" {
			t.Fatalf("connection %d: after the answer the client sees %q, want nothing (no FIN, no reset)", i, p)
		}
	}
}

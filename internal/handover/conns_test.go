//go:build unix

package handover

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// readied connects n TCP pairs (tcpPairs), reads each client's first bytes
// on the old generation's side, as a server that has read part of a
// request would, and returns the clients and the connections to hand over
// with those bytes as Buffered.
func readied(t *testing.T, n int) ([]net.Conn, []Conn) {
	t.Helper()
	clients, servers := tcpPairs(t, n)
	conns := make([]Conn, len(clients))
	for i, c := range clients {
		fmt.Fprintf(c, "first%04d,", i)
		buf := make([]byte, len("first0000,"))
		servers[i].SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := io.ReadFull(servers[i], buf); err != nil {
			t.Fatal(err)
		}
		servers[i].SetReadDeadline(time.Time{})
		conns[i] = Conn{Socket: servers[i], Buffered: buf, Meta: []byte("m" + strconv.Itoa(i))}
	}
	return clients, conns
}

// receiveAndServe takes connections from r until io.EOF and answers one
// request line on each, as who.
func receiveAndServe(ctx context.Context, r *Receiver, who string) (wait func() error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	done := make(chan int, 1)
	go func() {
		n := 0
		defer func() { done <- n }()
		for {
			it, err := r.Next(ctx)
			if err == io.EOF {
				return
			}
			if err != nil {
				fail(err)
				return
			}
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer it.Conn.Close()
				it.Conn.SetDeadline(time.Now().Add(testTimeout))
				if err := serve(it, who); err != nil {
					fail(err)
				}
			}()
		}
	}()
	return func() error {
		got := <-done
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil && got == 0 {
			return errors.New("received nothing")
		}
		return firstErr
	}
}

// ask sends the second half of each client's request and checks that the
// answer comes from who, with the bytes the old side had read first.
func ask(t *testing.T, clients []net.Conn, who string, metas []string) {
	t.Helper()
	for i, c := range clients {
		c.SetDeadline(time.Now().Add(testTimeout))
		fmt.Fprintf(c, "second%04d\n", i)
	}
	for i, c := range clients {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		want := fmt.Sprintf("%s meta=%s line=first%04d,second%04d\n", who, metas[i], i, i)
		if line != want {
			t.Fatalf("client %d: got %q, want %q", i, line, want)
		}
	}
}

func metas(n int) []string {
	m := make([]string, n)
	for i := range m {
		m[i] = "m" + strconv.Itoa(i)
	}
	return m
}

func TestSendConns_1000Connections_ClientsSeeNoFINAndTheReceiverAnswers(t *testing.T) {
	checkFDs(t)
	const n = 1000
	clients, conns := readied(t, n)
	s, r := pair(t)
	ctx := testCtx(t)
	served := receiveAndServe(ctx, r, "new")

	// Two calls, each split into frames of at most 253.
	for _, part := range [][]Conn{conns[:600], conns[600:]} {
		sent, err := s.SendConns(ctx, part)
		if err != nil || sent != len(part) {
			t.Fatalf("SendConns: %d of %d sent: %v", sent, len(part), err)
		}
	}
	// The old side has dropped its descriptors; the client must see
	// neither FIN nor RST, and no stray bytes.
	for i, c := range clients {
		if got := peek(t, c); got != "nothing" {
			t.Fatalf("client %d sees %s after the old generation let go", i, got)
		}
	}
	finished := make(chan error, 1)
	go func() { finished <- s.Finish(ctx) }()
	ask(t, clients, "new", metas(n))
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	if err := served(); err != nil {
		t.Fatal(err)
	}
}

// A receiver that goes away before confirming a frame never used its
// connections: the old generation keeps them and keeps serving.
func TestSendConns_ReceiverGoneBeforeConfirming_SenderKeepsServing(t *testing.T) {
	checkFDs(t)
	const n = 300
	clients, conns := readied(t, n)
	s, r := pair(t)
	r.Close()
	sent, err := s.SendConns(testCtx(t), conns)
	if sent != 0 {
		t.Fatalf("%d connections counted as handed over to a receiver that had closed", sent)
	}
	wantErr(t, err, ErrAborted, "receiver closed")
	for _, c := range conns {
		go serve(Item{Conn: c.Socket.(net.Conn), Buffered: c.Buffered, Meta: c.Meta}, "old")
	}
	ask(t, clients, "old", metas(n))
}

// When the sender cannot know whether the receiver took a frame (here its
// context ends while the receiver is not reading), it closes its copies:
// the receiver, if it takes them later, is their only owner.
func TestSendConns_Unconfirmed_ClosedHereServedThere(t *testing.T) {
	checkFDs(t)
	const n = 10
	clients, conns := readied(t, n)
	s, r := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	sent, err := s.SendConns(ctx, conns)
	if sent != n {
		t.Fatalf("sent = %d, want %d (closed unconfirmed)", sent, n)
	}
	wantErr(t, err, ErrUnconfirmed, "10 connections closed on this side")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not say the context ended", err)
	}
	served := receiveAndServe(testCtx(t), r, "new")
	ask(t, clients, "new", metas(n))
	if err := served(); err == nil || !errors.Is(err, ErrAborted) {
		t.Fatalf("receiver: %v, want ErrAborted after the connections", err)
	}
}

// Connections confirmed but not handed out when the receiver closes are
// closed: the sender has let go, so they had one owner, and it gave up.
func TestReceiverClose_ClosesConnectionsNotHandedOut(t *testing.T) {
	checkFDs(t)
	clients, conns := readied(t, 3)
	s, r := pair(t)
	ctx := testCtx(t)
	sent := make(chan error, 1)
	go func() {
		_, err := s.SendConns(ctx, conns)
		sent <- err
	}()
	it, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Conn.Close()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	r.Close()
	for i, c := range clients[1:] {
		c.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("client %d: %v, want EOF", i+1, err)
		}
	}
	if got := peek(t, clients[0]); got != "nothing" {
		t.Fatalf("client 0, handed out, sees %s", got)
	}
	if err := s.Finish(ctx); !errors.Is(err, ErrAborted) {
		t.Fatalf("Finish after the receiver closed: %v", err)
	}
}

func TestSendConns_InvalidConnRefusedBeforeSendingAnything(t *testing.T) {
	checkFDs(t)
	clients, conns := readied(t, 2)
	conns[1].Meta = make([]byte, MaxMeta+1)
	s, _ := pair(t)
	sent, err := s.SendConns(testCtx(t), conns)
	if sent != 0 || err == nil || !strings.Contains(err.Error(), "connection 1") {
		t.Fatalf("sent %d, err %v", sent, err)
	}
	// Still usable, still the caller's.
	conns[1].Meta = nil
	if peek(t, clients[0]) != "nothing" {
		t.Fatal("client 0 disturbed")
	}
}

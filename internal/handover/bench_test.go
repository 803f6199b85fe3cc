//go:build unix

package handover

import (
	"bufio"
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkHandoverConns measures one handover of N idle TCP connections
// over the real socket: dup, sendmsg in frames of 253, recvmsg, confirm,
// net.FileConn on the receiving side, close(2) of the old copies. The
// client ends live in a child process, so that this process holds only the
// N server ends (and, briefly, one frame's duplicates): 10,000 fit in the
// 20,000-descriptor limit that 10,000 pairs would not. Each iteration
// sends the connections the previous one received.
func BenchmarkHandoverConns(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) { benchHandover(b, n) })
	}
}

func benchHandover(b *testing.B, n int) {
	servers := childConnections(b, n)
	conns := make([]Conn, n)
	for i, c := range servers {
		conns[i] = Conn{Socket: c, Meta: []byte(strconv.Itoa(i))}
	}
	s, r := pair(b)
	ctx := testCtx(b)
	received := make([]Conn, 0, n)
	iters := 0
	for b.Loop() {
		iters++
		got := make(chan error, 1)
		go func() {
			received = received[:0]
			for range n {
				it, err := r.Next(ctx)
				if err != nil {
					got <- err
					return
				}
				received = append(received, Conn{Socket: it.Conn.(*net.TCPConn), Meta: it.Meta})
			}
			got <- nil
		}()
		if sent, err := s.SendConns(ctx, conns); err != nil || sent != n {
			b.Fatalf("SendConns: %d of %d: %v", sent, n, err)
		}
		if err := <-got; err != nil {
			b.Fatal(err)
		}
		conns, received = received, conns
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(iters*n), "µs/conn")
	for _, c := range conns {
		c.Socket.Close()
	}
}

// childConnections starts a child that dials n connections to a listener
// of this process and returns the server ends.
func childConnections(b *testing.B, n int) []*net.TCPConn {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cmd, stderr := startChild(b, "clients", []string{"HANDOVER_TEST_N=" + strconv.Itoa(n), "HANDOVER_TEST_ADDR=" + ln.Addr().String()}, nil)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		if err := waitChild(b, cmd, stderr); err != nil {
			b.Error(err)
		}
	})
	servers := make([]*net.TCPConn, 0, n)
	ln.SetDeadline(time.Now().Add(testTimeout))
	for len(servers) < n {
		c, err := ln.AcceptTCP()
		if err != nil {
			b.Fatalf("accept %d: %v; child: %s", len(servers), err, stderr)
		}
		servers = append(servers, c)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		b.Fatalf("child: %q %v; stderr: %s", line, err, stderr)
	}
	return servers
}

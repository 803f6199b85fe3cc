//go:build linux || darwin || freebsd

package quicroute_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/handoff-go/handoff/internal/quicroute"
)

// benchServer is a raw QUIC server (no HTTP/3) that reads every stream to
// the end and counts the bytes: the datagram path is all that is measured.
type benchServer struct {
	tr    *quic.Transport
	conn  *quicroute.Conn // nil for the plain server
	ln    *quic.Listener
	bytes atomic.Int64
	conns chan *quic.Conn
}

func newBenchServer(b *testing.B, shared *net.UDPConn, tlsConf *tls.Config, codec *quicroute.Codec, gen uint32, active bool) *benchServer {
	s := &benchServer{conns: make(chan *quic.Conn, 4)}
	s.tr, s.conn = newTransport(b, shared, gen, genOptions{codec: codec, active: active})
	conf := tlsConf.Clone()
	conf.NextProtos = []string{"bench"}
	ln, err := s.tr.Listen(conf, &quic.Config{MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	s.ln = ln
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			s.conns <- c
			go func() {
				for {
					str, err := c.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go io.Copy(counter{&s.bytes}, str)
				}
			}()
		}
	}()
	b.Cleanup(func() {
		s.ln.Close()
		closeTransport(s.tr, s.conn)
	})
	return s
}

// counter counts the bytes written to it as they arrive.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return len(b), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func dialBench(b *testing.B, addr net.Addr, clientTLS *tls.Config) *quic.Conn {
	conf := clientTLS.Clone()
	conf.NextProtos = []string{"bench"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, addr.String(), conf, &quic.Config{MaxIdleTimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.CloseWithError(0, "") })
	return c
}

// BenchmarkDatagrams measures datagrams per second received by a QUIC
// server through an upload, in three setups built in the same run:
//
//	plain      quic-go on the *net.UDPConn
//	routed-alone  the routing Conn of a first generation, no older one
//	routed     the newest generation's routing Conn, with a live older
//	           generation linked, traffic on its own connections (steady
//	           state: every datagram is decoded, none forwarded)
//	forwarded  traffic on an old generation's connection: read by the
//	           newest, forwarded over the link, read by the old one
func BenchmarkDatagrams(b *testing.B) {
	serverTLS, clientTLS := testTLS(b)
	chunk := make([]byte, 64<<10)
	run := func(b *testing.B, s *benchServer, c *quic.Conn, server *quic.Conn) {
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		before := server.ConnectionStats().PacketsReceived
		start := time.Now()
		b.SetBytes(int64(len(chunk)))
		b.ResetTimer()
		for b.Loop() {
			if _, err := str.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		str.Close()
		want := int64(b.N) * int64(len(chunk))
		if !waitUntil(30*time.Second, func() bool { return s.bytes.Load() >= want }) {
			b.Fatalf("server got %d of %d bytes", s.bytes.Load(), want)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		pkts := server.ConnectionStats().PacketsReceived - before
		b.ReportMetric(float64(pkts)/elapsed.Seconds(), "datagrams/s")
	}
	// One server alone on its socket: quic-go on the socket itself, or
	// a first generation's routing Conn.
	alone := func(routed bool) func(*testing.B) {
		return func(b *testing.B) {
			var codec *quicroute.Codec
			var gen uint32
			if routed {
				codec, gen = newCodec(b), 1
			}
			shared := listenShared(b)
			s := newBenchServer(b, shared, serverTLS, codec, gen, true)
			c := dialBench(b, shared.LocalAddr(), clientTLS)
			run(b, s, c, receive(b, "the server to accept", s.conns, 5*time.Second))
		}
	}
	b.Run("plain", alone(false))
	b.Run("routed-alone", alone(true))
	b.Run("routed", func(b *testing.B) {
		shared := listenShared(b)
		cd := newCodec(b)
		old := newBenchServer(b, shared, serverTLS, cd, 1, true)
		s := newBenchServer(b, shared, serverTLS, cd, 2, false)
		cutoverRaw(b, old.conn, s.conn)
		c := dialBench(b, shared.LocalAddr(), clientTLS)
		run(b, s, c, receive(b, "the new generation to accept", s.conns, 5*time.Second))
	})
	b.Run("forwarded", func(b *testing.B) {
		shared := listenShared(b)
		cd := newCodec(b)
		old := newBenchServer(b, shared, serverTLS, cd, 1, true)
		c := dialBench(b, shared.LocalAddr(), clientTLS)
		server := receive(b, "the old generation to accept", old.conns, 5*time.Second)
		s := newBenchServer(b, shared, serverTLS, cd, 2, false)
		cutoverRaw(b, old.conn, s.conn)
		run(b, old, c, server)
		if st := s.conn.Stats(); st.Forwarded == 0 {
			b.Fatalf("nothing forwarded: %+v", st)
		}
	})
}

// BenchmarkDatagramsPaired is BenchmarkDatagrams with the three paths
// measured in alternation, one 4 MiB upload each per round, so that load
// from other processes on the machine hits all of them alike. It reports
// the median per-round ratio to the plain server.
func BenchmarkDatagramsPaired(b *testing.B) {
	serverTLS, clientTLS := testTLS(b)
	cd := newCodec(b)
	type path struct {
		s      *benchServer
		server *quic.Conn
		str    *quic.Stream
		sent   int64
		rates  []float64
	}
	open := func(s *benchServer, c *quic.Conn, server *quic.Conn) *path {
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return &path{s: s, server: server, str: str}
	}
	plainSock := listenShared(b)
	plain := newBenchServer(b, plainSock, serverTLS, nil, 0, true)
	pc := dialBench(b, plainSock.LocalAddr(), clientTLS)
	pPlain := open(plain, pc, receive(b, "plain accept", plain.conns, 5*time.Second))

	shared := listenShared(b)
	old := newBenchServer(b, shared, serverTLS, cd, 1, true)
	oc := dialBench(b, shared.LocalAddr(), clientTLS)
	oldServer := receive(b, "old accept", old.conns, 5*time.Second)
	pFwd := open(old, oc, oldServer) // opened before cutover: the handshake is done
	next := newBenchServer(b, shared, serverTLS, cd, 2, false)
	cutoverRaw(b, old.conn, next.conn)
	nc := dialBench(b, shared.LocalAddr(), clientTLS)
	pRouted := open(next, nc, receive(b, "new accept", next.conns, 5*time.Second))

	chunk := make([]byte, 64<<10)
	const perRound = 64 // 4 MiB
	round := func(p *path) {
		before := p.server.ConnectionStats().PacketsReceived
		start := time.Now()
		for range perRound {
			if _, err := p.str.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		p.sent += perRound * int64(len(chunk))
		if !waitUntil(30*time.Second, func() bool { return p.s.bytes.Load() >= p.sent }) {
			b.Fatalf("server got %d of %d bytes", p.s.bytes.Load(), p.sent)
		}
		el := time.Since(start)
		p.rates = append(p.rates, float64(p.server.ConnectionStats().PacketsReceived-before)/el.Seconds())
	}
	for b.Loop() {
		round(pPlain)
		round(pRouted)
		round(pFwd)
	}
	ratio := func(p *path) float64 {
		r := make([]float64, len(p.rates))
		for i := range r {
			r[i] = p.rates[i] / pPlain.rates[i]
		}
		return median(r)
	}
	b.ReportMetric(median(pPlain.rates), "plain-datagrams/s")
	b.ReportMetric(median(pRouted.rates), "routed-datagrams/s")
	b.ReportMetric(median(pFwd.rates), "forwarded-datagrams/s")
	b.ReportMetric(ratio(pRouted), "routed/plain")
	b.ReportMetric(ratio(pFwd), "forwarded/plain")
	if st := next.conn.Stats(); st.Forwarded == 0 {
		b.Fatalf("nothing forwarded: %+v", st)
	}
}

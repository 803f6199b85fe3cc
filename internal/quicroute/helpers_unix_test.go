//go:build linux || darwin || freebsd

package quicroute_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/quicroute"
	"github.com/handoff-go/handoff/internal/testserver"
)

// testTLS returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and an HTTP/3 client config that trusts only it.
func testTLS(t testing.TB) (server, client *tls.Config) {
	server, client = testserver.SelfSigned(t)
	client.NextProtos = []string{http3.NextProtoH3}
	return server, client
}

// newCodec returns a codec with a fresh key, as each test run's
// generations share one.
func newCodec(t testing.TB) *quicroute.Codec {
	t.Helper()
	k, err := quicroute.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := quicroute.NewCodec(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listenShared opens the shared UDP socket on 127.0.0.1, port 0.
func listenShared(t testing.TB) *net.UDPConn {
	t.Helper()
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// dupUDP gives a generation its own descriptor for the shared socket, as
// a process receiving it over LISTEN_FDS or SCM_RIGHTS would have: the
// same open file description, so the same receive queue. F_DUPFD_CLOEXEC
// through Control, never Fd(), which would flip the socket to blocking.
func dupUDP(t testing.TB, u *net.UDPConn) *net.UDPConn {
	t.Helper()
	rc, err := u.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nfd int
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		t.Fatal(err, derr)
	}
	f := os.NewFile(uintptr(nfd), "shared-udp")
	pc, err := net.FilePacketConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	return pc.(*net.UDPConn)
}

// holder keeps requests to /hold open until released, so that a test
// knows a request is in flight on a given generation's connection.
type holder struct {
	entered chan uint32 // the generation that started serving a held request
	release chan struct{}
	once    sync.Once
}

// newHolder returns a holder that is released at the latest when the
// test ends, so no handler outlives it.
func newHolder(t testing.TB) *holder {
	h := &holder{entered: make(chan uint32, 64), release: make(chan struct{})}
	t.Cleanup(h.free)
	return h
}

// free releases every held request, once.
func (h *holder) free() { h.once.Do(func() { close(h.release) }) }

// holdBody is the size of a held response: larger than quic-go's initial
// stream window (512 KiB), so it completes only if the client's
// MAX_STREAM_DATA and ACKs reach the generation that serves it.
const holdBody = 4 << 20

// generation is one server generation in this process: a copy of the
// shared socket, a routing Conn (nil when routing is off), a
// quic.Transport and an http3.Server.
type generation struct {
	n      uint32
	conn   *quicroute.Conn
	tr     *quic.Transport
	srv    *http3.Server
	ln     *quic.EarlyListener
	served atomic.Int64 // requests answered
	hellos atomic.Int64 // ClientHellos seen (connections begun)
	done   chan error   // ServeListener's result
}

// genOptions says how to build a generation.
type genOptions struct {
	codec  *quicroute.Codec // nil: no routing, a plain quic.Transport on the socket copy
	active bool             // read the socket from the start
	reset  *quic.StatelessResetKey
}

// startGeneration builds generation n on its own copy of shared and
// starts serving.
func startGeneration(t testing.TB, shared *net.UDPConn, n uint32, tlsConf *tls.Config, h *holder, o genOptions) *generation {
	t.Helper()
	g := &generation{n: n, done: make(chan error, 1)}
	g.tr, g.conn = newTransport(t, shared, n, o)
	qconf := &quic.Config{
		GetConfigForClient: func(*quic.ClientInfo) (*quic.Config, error) {
			g.hellos.Add(1)
			return nil, nil
		},
	}
	ln, err := g.tr.ListenEarly(http3.ConfigureTLSConfig(tlsConf), qconf)
	if err != nil {
		t.Fatal(err)
	}
	g.ln = ln
	g.srv = &http3.Server{Handler: g.handler(h)}
	go func() { g.done <- g.srv.ServeListener(ln) }()
	t.Cleanup(func() { g.close() })
	return g
}

// newTransport gives generation n a quic.Transport on its own copy of
// shared: on a routing Conn when o.codec is set (conn is that Conn), on
// the plain socket copy otherwise (conn is nil).
func newTransport(t testing.TB, shared *net.UDPConn, n uint32, o genOptions) (tr *quic.Transport, conn *quicroute.Conn) {
	t.Helper()
	udp := dupUDP(t, shared)
	if o.codec == nil {
		return &quic.Transport{Conn: udp, StatelessResetKey: o.reset}, nil
	}
	c, err := quicroute.New(udp, quicroute.Config{Codec: o.codec, Generation: n, Active: o.active})
	if err != nil {
		udp.Close()
		t.Fatal(err)
	}
	return &quic.Transport{Conn: c, ConnectionIDGenerator: o.codec.Generator(n), StatelessResetKey: o.reset}, c
}

// closeTransport closes tr and the socket under it: conn, the routing
// Conn, when there is one (tr.Close leaves a Conn it was given open).
func closeTransport(tr *quic.Transport, conn *quicroute.Conn) {
	tr.Close()
	if conn != nil {
		conn.Close()
	} else {
		tr.Conn.Close()
	}
}

func (g *generation) handler(h *holder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Gen", strconv.Itoa(int(g.n)))
		if r.URL.Path == "/hold" {
			h.entered <- g.n
			select {
			case <-h.release:
			case <-r.Context().Done(): // the connection died or the server closed
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(holdBody))
			buf := make([]byte, 64<<10)
			for sent := 0; sent < holdBody; sent += len(buf) {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
			g.served.Add(1)
			return
		}
		fmt.Fprintf(w, "gen %d\n", g.n)
		g.served.Add(1)
	})
}

// drain is the old generation's exit: GOAWAY, wait for requests and
// connections to finish (bounded), then close the transport and socket.
func (g *generation) drain(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// http3.Server.Shutdown leaves a listener given to ServeListener open,
	// and quic-go would go on completing handshakes nobody serves.
	g.ln.Close()
	err := g.srv.Shutdown(ctx)
	g.close()
	return err
}

func (g *generation) close() {
	g.srv.Close()
	closeTransport(g.tr, g.conn)
}

// cutover moves reading of the shared socket from old to next and gives
// next a direct link to every generation old could reach, in the order
// the library will use: links first (next still in standby), then Stop,
// then Start.
func cutover(t testing.TB, old, next *generation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	links, err := old.conn.Links()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		// As internal/handover's Receiver would hand it out: a net.Conn.
		c, err := net.FileConn(l.File)
		l.File.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := next.conn.AddRouteConn(l.Generation, c.(*net.UnixConn)); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.conn.Stop(ctx); err != nil {
		t.Fatalf("stop generation %d: %v", old.n, err)
	}
	if err := next.conn.Start(); err != nil {
		t.Fatal(err)
	}
}

// cutoverRaw is cutover for routing Conns that no quic-go reads: Stop
// old first, then hand next old's links and Start it.
func cutoverRaw(t testing.TB, old, next *quicroute.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := old.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	links, err := old.Links()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if err := next.AddRoute(l.Generation, l.File); err != nil {
			t.Fatal(err)
		}
	}
	if err := next.Start(); err != nil {
		t.Fatal(err)
	}
}

// newClient is quic-go's own HTTP/3 client, as a new user would write
// it; keep-alives hold a connection whose request waits longer than the
// idle timeout (and send the old generation datagrams the newest forwards).
func newClient(clientTLS *tls.Config) (*http.Client, *http3.Transport) {
	tr := &http3.Transport{TLSClientConfig: clientTLS, QUICConfig: &quic.Config{MaxIdleTimeout: 5 * time.Second, KeepAlivePeriod: time.Second}}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}, tr
}

// result is one request's outcome.
type result struct {
	gen   int
	err   error
	reset bool // the connection died of a stateless reset
}

// load runs loops goroutines of back-to-back GETs, never retrying, until
// stop is closed.
type load struct {
	mu      sync.Mutex
	ok      int
	failed  []result
	byGen   map[int]int
	wg      sync.WaitGroup
	stop    chan struct{}
	started atomic.Int64
}

func startLoad(url string, loops int, clientTLS *tls.Config) (*load, *http3.Transport) {
	l := &load{byGen: map[int]int{}, stop: make(chan struct{})}
	c, tr := newClient(clientTLS)
	for i := 0; i < loops; i++ {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.started.Add(1)
				if !l.record(get(c, url)) {
					return
				}
			}
		})
	}
	return l, tr
}

// maxFailures stops a loop that fails this often: a client whose every
// request fails at once would spin, and the run has said what it had to.
const maxFailures = 1000

// record counts one outcome and reports whether the loop should go on.
func (l *load) record(r result) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.err != nil {
		l.failed = append(l.failed, r)
		return len(l.failed) < maxFailures
	}
	l.ok++
	l.byGen[r.gen]++
	return true
}

// broken reports whether the loops gave up (see maxFailures).
func (l *load) broken() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failed) >= maxFailures
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// get sends one GET and reads the whole body.
func get(c *http.Client, url string) result {
	resp, err := c.Get(url)
	if err != nil {
		return result{err: err, reset: isReset(err)}
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	gen, _ := strconv.Atoi(resp.Header.Get("X-Gen"))
	if err != nil {
		return result{gen: gen, err: err, reset: isReset(err)}
	}
	if resp.StatusCode != http.StatusOK {
		return result{gen: gen, err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return result{gen: gen, err: fmt.Errorf("body %d of %d bytes", n, resp.ContentLength)}
	}
	return result{gen: gen}
}

func isReset(err error) bool {
	_, ok := errors.AsType[*quic.StatelessResetError](err)
	return ok
}

// waitUntil polls cond until it holds or d passes and says which.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// waitFor polls cond until it holds or the deadline passes: waiting on an
// observable event, bounded.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// receive waits for one value on ch, bounded.
func receive[T any](t testing.TB, what string, ch <-chan T, d time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
		panic("unreachable")
	}
}

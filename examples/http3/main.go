// Command http3 is an HTTP/3 server (quic-go) built on handoff, with
// hello's interface, whose QUIC connections survive upgrades:
//
//	http3 [-addr 127.0.0.1:8443] [-pidfile FILE] [-cert FILE -key FILE] [-quic-routing=false]
//
// -addr is a UDP address. SIGHUP or SIGUSR2 upgrades it (the binary at the
// same path starts with the socket, waits without reading it, and takes it
// when this process drains, which then gets its own connections' datagrams
// forwarded); SIGTERM drains and exits. Draining sends HTTP/3 GOAWAY and
// finishes the requests in flight, up to -drain-timeout. Every response
// carries the serving process's pid in an X-Pid header and as the body's
// first line; /slow?ms=N waits N ms first; /stream?ms=N&every=M writes the
// pid as one line every M ms (default 50) for N ms, so a test can keep a
// busy connection across an upgrade.
//
// Without -cert and -key it makes a self-signed certificate at start (for
// 127.0.0.1, ::1, localhost and the -addr host): each generation has its
// own, so clients that pin one need -cert and -key. -quic-routing=false
// (handoff.Options.NoQUICRouting) is a test and diagnostic knob: plain
// quic-go, whose old connections lose their datagrams at each upgrade.
//
// It runs unchanged under `handoff run --listen udp://ADDR`.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
	"github.com/handoff-go/handoff/examples/internal/slowpath"
	"github.com/handoff-go/handoff/internal/selfsigned"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "UDP address to listen on")
	cert := flag.String("cert", "", "TLS certificate (PEM); with -key. Default: a self-signed one made at start")
	key := flag.String("key", "", "TLS private key (PEM), with -cert")
	routing := flag.Bool("quic-routing", true, "route old connections' datagrams to their generation (-quic-routing=false: Options.NoQUICRouting, a test knob)")
	// -pidfile -probation -drain-timeout -drain-idle -ready-timeout
	// -migrate -v: each fills its field of handoff.Options.
	options := serverflags.Options(flag.CommandLine)
	flag.Parse()
	if err := run(*addr, *cert, *key, *routing, options()); err != nil {
		fmt.Fprintln(os.Stderr, "http3:", err)
		os.Exit(1)
	}
}

func run(addr, certFile, keyFile string, routing bool, opts handoff.Options) error {
	tlsConf, err := tlsConfig(addr, certFile, keyFile)
	if err != nil {
		return err
	}
	opts.NoQUICRouting = !routing
	h, err := handoff.New(opts)
	if err != nil {
		return err
	}
	defer h.Stop()
	ln, err := h.ListenQUIC(addr, http3.ConfigureTLSConfig(tlsConf), &quic.Config{})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", stream)
	// hello's answer: the pid in X-Pid and as the body's first line.
	mux.Handle("/", slowpath.Handler(slowpath.Answer(pid, "hello from handoff over HTTP/3")))
	srv := &http3.Server{Handler: mux}
	// Serves, declares readiness, upgrades on SIGHUP/SIGUSR2, and drains
	// (GOAWAY, then the requests in flight) on SIGTERM or once a successor
	// has taken over.
	return h.ServeHTTP3(context.Background(), srv, ln)
}

// pid is the serving process's pid, as every answer carries it.
var pid = strconv.Itoa(os.Getpid())

// stream writes the pid as a line every `every` ms for `ms` ms: a busy,
// long-lived request.
func stream(w http.ResponseWriter, r *http.Request) {
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	every, _ := strconv.Atoi(r.URL.Query().Get("every"))
	if every <= 0 {
		every = 50
	}
	w.Header().Set("X-Pid", pid)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	f, _ := w.(http.Flusher)
	tick := time.NewTicker(time.Duration(every) * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer end.Stop()
	for {
		if _, err := io.WriteString(w, pid+"\n"); err != nil {
			return
		}
		if f != nil {
			f.Flush()
		}
		select {
		case <-tick.C:
		case <-end.C:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// tlsConfig loads -cert/-key, or makes a self-signed certificate.
func tlsConfig(addr, certFile, keyFile string) (*tls.Config, error) {
	if certFile != "" || keyFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load -cert/-key: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{c}}, nil
	}
	host, _, _ := net.SplitHostPort(addr)
	c, err := selfsigned.Certificate(host)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}, nil
}

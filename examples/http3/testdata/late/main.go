// Command late is examples/http3 for one fault test: its flags (-cert and
// -key required), but it calls Ready (ServeHTTP3) only once the FIFO named
// by $LATE_GATE is opened for writing, so the test decides when a newcomer
// that took the socket over gets ready: after the serving process gave up
// on it.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "UDP address to listen on")
	certFile := flag.String("cert", "", "TLS certificate (PEM), with -key")
	keyFile := flag.String("key", "", "TLS private key (PEM)")
	options := serverflags.Options(flag.CommandLine)
	flag.Parse()
	if err := run(*addr, *certFile, *keyFile, options()); err != nil {
		fmt.Fprintln(os.Stderr, "late:", err)
		os.Exit(1)
	}
}

func run(addr, certFile, keyFile string, opts handoff.Options) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	h, err := handoff.New(opts)
	if err != nil {
		return err
	}
	defer h.Stop()
	ln, err := h.ListenQUIC(addr, http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}), &quic.Config{})
	if err != nil {
		return err
	}
	gate, err := os.Open(os.Getenv("LATE_GATE")) // blocks until the test opens the FIFO for writing
	if err != nil {
		return err
	}
	gate.Close()
	pid := strconv.Itoa(os.Getpid())
	srv := &http3.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Pid", pid)
		fmt.Fprintf(w, "%s\nlate\n", pid)
	})}
	return h.ServeHTTP3(context.Background(), srv, ln)
}

// Command hello is a real HTTP server built on handoff, used by the tests,
// the demo and the docs. Its interface is stable; other tools drive it:
//
//	hello [-addr 127.0.0.1:8080] [-pidfile FILE] [-migrate] [-max-draining N] [-metrics ADDR] [-takeover PATH]
//
// SIGHUP or SIGUSR2 upgrades it (the binary at the same path starts with the
// sockets, and this process drains once the new one is ready); SIGTERM drains
// and exits. Every response carries the serving process's pid in an X-Pid
// header and as the body's first line; /slow?ms=N sleeps N ms first; any
// method is accepted; an X-Request-Id request header is echoed back. With
// -metrics ADDR it also serves the library's metrics (Handoff.Collector, with
// the Go and process collectors) at GET /metrics on ADDR, a socket handed
// over at upgrades like the other, so the counters a scrape sees go on
// across generations.
//
// With -takeover PATH, a hello started by anyone (another systemd unit,
// another container sharing the socket directory and the network
// namespace) with the same PATH takes the sockets and the connections over
// from the one serving there, which then drains (docs/TAKEOVER.md).
//
// It runs unchanged under `handoff run` and under systemd socket activation.
package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
	"github.com/handoff-go/handoff/examples/internal/slowpath"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	// -pidfile -probation -drain-timeout -drain-idle -ready-timeout
	// -migrate -takeover -v: each fills its field of handoff.Options.
	options := serverflags.Options(flag.CommandLine)
	metricsAddr := flag.String("metrics", "", "also serve the metrics at GET /metrics on this address")
	flag.Parse()

	srv := slowpath.Server(*addr, answer)
	// Listens through handoff (or takes the socket the previous generation
	// passed), serves, declares readiness, upgrades on SIGHUP/SIGUSR2 and
	// drains on SIGTERM or once a successor has taken over.
	var err error
	if *metricsAddr == "" {
		err = handoff.ListenAndServe(context.Background(), srv, options())
	} else {
		err = serveWithMetrics(srv, *metricsAddr, options())
	}
	serverflags.Exit("hello", err)
}

// serveWithMetrics is ListenAndServe with a second server, the metrics on
// metricsAddr: both listeners come from the Handoff (inherited or bound)
// before either Serve runs, and the generation stops once both drained, so
// that Stop hands over counts that hold both drains. (The first Serve to
// start calls Ready; the other registers its listener for migrated
// connections a moment later. The previous generation passes connections
// only after its probation, and one it passed in that moment would be
// refused by the handover and served by it, never lost.)
func serveWithMetrics(srv *http.Server, metricsAddr string, opts handoff.Options) error {
	h, err := handoff.New(opts)
	if err != nil {
		return err
	}
	defer h.Stop()
	ln, err := h.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	mln, err := h.Listen("tcp", metricsAddr)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	metricsDone := make(chan error, 1)
	go func() { metricsDone <- h.Serve(context.Background(), msrv, mln) }()
	err = h.Serve(context.Background(), srv, ln)
	return errors.Join(err, <-metricsDone)
}

// answer is hello's response to any request: the pid in X-Pid and as the
// body's first line, the X-Request-Id echoed.
var answer = slowpath.Answer(slowpath.PID, "hello from handoff")

package handoff_test

import (
	"context"
	"log"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/handoff-go/handoff"
)

// Metrics on a registry of the program's own, served on a socket of the
// Handoff, so that the next generation inherits it and a scrape after an
// upgrade continues the old generation's counters.
func ExampleHandoff_Collector() {
	h, err := handoff.New(handoff.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Stop()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Every listener before the first Serve: Ready, which the first Serve
	// calls, closes inherited sockets nobody claimed.
	ln, err := h.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	mln, err := h.Listen("tcp", "127.0.0.1:9100")
	if err != nil {
		log.Fatal(err)
	}
	metrics := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	metricsDone := make(chan error, 1)
	go func() { metricsDone <- h.Serve(context.Background(), metrics, mln) }()
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) })}
	if err := h.Serve(context.Background(), app, ln); err != nil {
		log.Fatal(err)
	}
	<-metricsDone // both drained: Stop may hand the counts over
}

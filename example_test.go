package handoff_test

import (
	"context"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/handoff-go/handoff"
)

// The whole life of an HTTP server: SIGHUP or SIGUSR2 upgrade it to the
// binary now on disk, SIGTERM drains it.
func ExampleListenAndServe() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello\n")) })
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	if err := handoff.ListenAndServe(context.Background(), srv, handoff.Options{PIDFile: "/run/hello.pid"}); err != nil {
		log.Fatal(err)
	}
}

// The parts, for a server that is not net/http.
func ExampleNew() {
	h, err := handoff.New(handoff.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Stop()
	ln, err := h.Listen("tcp", "127.0.0.1:8080") // inherited from the previous generation, or bound
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept() // returns an error once this generation drains
			if err != nil {
				return
			}
			go func() { c.Write([]byte("hello\n")); c.Close() }()
		}
	}()
	h.Ready()      // the previous generation may stop accepting
	<-h.Draining() // a successor took over, or SIGTERM: finish in-flight work
}

// Upgrade from code, for example from an admin endpoint; errors.Is tells
// the outcomes apart.
func ExampleHandoff_Upgrade() {
	h, err := handoff.New(handoff.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Stop()
	http.HandleFunc("/admin/upgrade", func(w http.ResponseWriter, r *http.Request) {
		if err := h.Upgrade(); err != nil {
			http.Error(w, err.Error(), http.StatusConflict) // the old generation still serves
			return
		}
		w.Write([]byte("upgraded; this generation is draining\n"))
	})
}

// Live connections of the program's own protocol move to the new
// generation: the old one passes them once it drains, the new one takes
// them before it is ready and reads through NetConn, which returns the
// bytes the old one had read but not processed before the socket's own.
func ExampleHandoff_PassConns() {
	h, err := handoff.New(handoff.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Stop()
	go func() {
		for c := range h.InheritedConns() { // before Ready
			go resume(c.NetConn(), c.Meta)
		}
	}()
	h.Ready()
	<-h.Draining()
	// Stop reading each session, then pass what it had read but not yet
	// processed along with its socket and the program's own metadata.
	var sessions []handoff.Conn // handoff.Conn{Raw: c, Buffered: unread, Meta: id}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := h.PassConns(ctx, sessions...)
	if err != nil {
		for _, c := range sessions[n:] {
			c.Raw.Close() // no successor (a plain stop), or the channel broke
		}
	}
}

func resume(c net.Conn, meta []byte) { c.Close() }

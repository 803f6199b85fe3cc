// Command h2c is examples/hello speaking HTTP/2 without TLS (h2c, prior
// knowledge) as well as HTTP/1.1 on the same port, through
// http.Server.Protocols. It shows what happens to HTTP/2 connections in an
// upgrade: they cannot move to the new generation, so handoff.Serve ends
// them with GOAWAY (srv.Shutdown) once the old generation drains; the
// requests in flight on them finish, and clients open their next connection
// to the new generation, which already accepts on the same socket.
//
//	h2c [-addr 127.0.0.1:8082] [-pidfile FILE] [-migrate=false] [-v]
//
// To watch it:
//
//	go build -o /tmp/h2c ./examples/h2c
//	/tmp/h2c -pidfile /tmp/h2c.pid &
//	curl -s --http2-prior-knowledge -d x http://127.0.0.1:8082/   # the pid, over HTTP/2
//	kill -HUP $(cat /tmp/h2c.pid)
//
// Every response carries the serving pid in an X-Pid header and as the
// body's first line, and the protocol in X-Proto; /slow?ms=N sleeps N ms
// first; any method is accepted and the request body is read.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/handoff-go/handoff"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	pidfile := flag.String("pidfile", "", "write the serving pid here")
	probation := flag.Duration("probation", 0, "how long to keep the sockets after a successor is ready (0: the library's default)")
	drainTimeout := flag.Duration("drain-timeout", 0, "hard cap on the drain (0: the library's default)")
	drainIdle := flag.Duration("drain-idle", 0, "how long idle HTTP/1 keep-alive connections may stay quiet before the drain closes them (0: default)")
	readyTimeout := flag.Duration("ready-timeout", 0, "how long a new generation may take to be ready (0: default)")
	migrate := flag.Bool("migrate", true, "pass idle HTTP/1 keep-alive connections to the new generation (-migrate=false: Options.NoMigrate, they drain); HTTP/2 ones get GOAWAY either way")
	verbose := flag.Bool("v", false, "log what happens to stderr")
	flag.Parse()

	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	err := handoff.ListenAndServe(context.Background(), srv, handoff.Options{
		PIDFile:      *pidfile,
		Probation:    *probation,
		DrainTimeout: *drainTimeout,
		DrainIdle:    *drainIdle,
		ReadyTimeout: *readyTimeout,
		NoMigrate:    !*migrate,
		Logger:       logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "h2c:", err)
		os.Exit(1)
	}
}

func handler() http.Handler {
	pid := strconv.Itoa(os.Getpid())
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		if ms > 0 {
			t := time.NewTimer(time.Duration(ms) * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
		}
		answer(w, r, pid)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { answer(w, r, pid) })
	return mux
}

func answer(w http.ResponseWriter, r *http.Request, pid string) {
	io.Copy(io.Discard, r.Body)
	h := w.Header()
	h.Set("X-Pid", pid)
	h.Set("X-Proto", r.Proto)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, pid+"\nhello from handoff over "+r.Proto+"\n")
}

// Command hello is a real HTTP server built on handoff, used by the tests,
// the demo and the docs. Its interface is stable; other tools drive it:
//
//	hello [-addr 127.0.0.1:8080] [-pidfile FILE] [-migrate]
//
// SIGHUP or SIGUSR2 upgrades it (the binary at the same path starts with the
// sockets, and this process drains once the new one is ready); SIGTERM drains
// and exits. Every response carries the serving process's pid in an X-Pid
// header and as the body's first line; /slow?ms=N sleeps N ms first; any
// method is accepted; an X-Request-Id request header is echoed back.
//
// It runs unchanged under `handoff run` and under systemd socket activation.
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
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	pidfile := flag.String("pidfile", "", "write the serving pid here")
	probation := flag.Duration("probation", 0, "how long to keep the sockets after a successor is ready (0: the library's default)")
	drainTimeout := flag.Duration("drain-timeout", 0, "hard cap on the drain (0: the library's default)")
	drainIdle := flag.Duration("drain-idle", 0, "how long idle keep-alive connections may stay quiet before the drain closes them (0: default)")
	readyTimeout := flag.Duration("ready-timeout", 0, "how long a new generation may take to be ready (0: default)")
	migrate := flag.Bool("migrate", true, "pass idle keep-alive connections to the new generation (-migrate=false: Options.NoMigrate, they drain)")
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
	}
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
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func handler() http.Handler {
	pid := strconv.Itoa(os.Getpid())
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		if ms > 0 {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
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
	io.Copy(io.Discard, r.Body) // read what the client sent, so keep-alive can go on
	h := w.Header()
	h.Set("X-Pid", pid)
	if id := r.Header.Get("X-Request-Id"); id != "" {
		h.Set("X-Request-Id", id)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, pid+"\nhello from handoff\n")
}

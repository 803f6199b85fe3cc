// Command hello is a real HTTP server built on handoff, used by the tests,
// the demo and the docs. Its interface is stable; other tools drive it:
//
//	hello [-addr 127.0.0.1:8080] [-pidfile FILE] [-migrate] [-max-draining N]
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
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
	"github.com/handoff-go/handoff/examples/internal/slowpath"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	// -pidfile -probation -drain-timeout -drain-idle -ready-timeout
	// -migrate -v: each fills its field of handoff.Options.
	options := serverflags.Options(flag.CommandLine)
	flag.Parse()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           slowpath.Handler(answer),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// Listens through handoff (or takes the socket the previous generation
	// passed), serves, declares readiness, upgrades on SIGHUP/SIGUSR2 and
	// drains on SIGTERM or once a successor has taken over.
	if err := handoff.ListenAndServe(context.Background(), srv, options()); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

// pid is the serving process's pid, as every answer carries it.
var pid = strconv.Itoa(os.Getpid())

// answer is hello's response to any request: the pid in X-Pid and as the
// body's first line, the X-Request-Id echoed.
func answer(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body) // read what the client sent, so keep-alive can go on
	h := w.Header()
	h.Set("X-Pid", pid)
	if id := r.Header.Get("X-Request-Id"); id != "" {
		h.Set("X-Request-Id", id)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, pid+"\nhello from handoff\n")
}

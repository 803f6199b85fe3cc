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
	"io"
	"net/http"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
	"github.com/handoff-go/handoff/examples/internal/slowpath"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "address to listen on")
	// hello's flags, each filling its field of handoff.Options; the two
	// about idle connections concern HTTP/1 ones only.
	options := serverflags.Options(flag.CommandLine)
	flag.Lookup("drain-idle").Usage = "how long idle HTTP/1 keep-alive connections may stay quiet before the drain closes them (0: default)"
	flag.Lookup("migrate").Usage = "pass idle HTTP/1 keep-alive connections to the new generation (-migrate=false: Options.NoMigrate, they drain); HTTP/2 ones get GOAWAY either way"
	flag.Parse()

	srv := slowpath.Server(*addr, answer)
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	serverflags.Exit("h2c", handoff.ListenAndServe(context.Background(), srv, options()))
}

// answer is h2c's response to any request: the pid in X-Pid and as the
// body's first line, the protocol it came over in X-Proto.
func answer(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	h := w.Header()
	h.Set("X-Pid", slowpath.PID)
	h.Set("X-Proto", r.Proto)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, slowpath.PID+"\nhello from handoff over "+r.Proto+"\n")
}

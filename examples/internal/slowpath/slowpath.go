// Package slowpath is the HTTP server the HTTP examples (hello, h2c)
// share: its request routing, so that a test can keep a request in flight
// across an upgrade (/slow?ms=N waits N ms before it is answered, every
// other path is answered at once), its timeouts, and the pid every answer
// carries.
package slowpath

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// PID is the serving process's pid in decimal, as every answer carries it
// (in X-Pid and as the body's first line).
var PID = strconv.Itoa(os.Getpid())

// Server is the http.Server of hello and h2c: Handler(answer) on addr,
// with the header and idle timeouts a server facing the internet wants.
func Server(addr string, answer http.HandlerFunc) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           Handler(answer),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

// Handler answers every request with answer; on /slow?ms=N, after N ms.
// A request whose client goes away (or whose server closes) while it
// waits is not answered.
func Handler(answer http.HandlerFunc) http.Handler {
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
		answer(w, r)
	})
	mux.HandleFunc("/", answer)
	return mux
}

// Answer is hello's response to any request: the client's body read to
// the end (so keep-alive goes on), pid in an X-Pid header and as the
// body's first line, then greeting; an X-Request-Id request header is
// echoed back.
func Answer(pid, greeting string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("X-Pid", pid)
		if id := r.Header.Get("X-Request-Id"); id != "" {
			h.Set("X-Request-Id", id)
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, pid+"\n"+greeting+"\n")
	}
}

// Package slowpath is the request routing the HTTP examples (hello, h2c)
// share, so that a test can keep a request in flight across an upgrade:
// /slow?ms=N waits N ms before it is answered, every other path is
// answered at once.
package slowpath

import (
	"net/http"
	"strconv"
	"time"
)

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

//go:build linux

package handoff_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/handoff-go/handoff"
)

// An HTTP/2 (h2c) request in flight when the drain starts completes, and
// the drain ends once it has: the connection is told with GOAWAY, not cut.
// Hijacked handlers learn about the drain from DrainingFrom.
func TestDrainHTTP2AndHijacked(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h, err := handoff.New(handoff.Options{NoSignals: true, DrainIdle: 50 * time.Millisecond, DrainTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	ln, err := h.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	sawDrain := make(chan bool, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-handoff.DrainingFrom(r.Context()):
			sawDrain <- true
		case <-time.After(5 * time.Second):
			sawDrain <- false
		}
		io.WriteString(w, "done\n")
	})
	srv := &http.Server{Handler: mux, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	served := serveInBackground(h, srv, ln)

	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	type result struct {
		proto, body string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.Proto, string(b), err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("request never reached the handler")
	}
	h.Drain()
	r := <-done
	if r.err != nil || r.body != "done\n" || r.proto != "HTTP/2.0" {
		t.Fatalf("in-flight h2 request: proto %q body %q err %v", r.proto, r.body, r.err)
	}
	if !<-sawDrain {
		t.Error("handler did not see DrainingFrom close")
	}
	waitServed(t, served, 10*time.Second)
}

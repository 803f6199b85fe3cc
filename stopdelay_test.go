//go:build linux

package handoff_test

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/internal/testserver"
)

// With Options.StopDelay, the first stop signal fails readiness while
// fresh connections are still accepted and answered; the drain follows.
func TestStopDelay_ServesWhileReadinessFails(t *testing.T) {
	addr := testserver.FreeAddr(t)
	const delay = 500 * time.Millisecond
	h, ln := listenWith(t, handoff.Options{NoSignals: true, StopDelay: delay, DrainIdle: 50 * time.Millisecond}, addr)
	mux := http.NewServeMux()
	mux.Handle("GET /ready", h.ReadinessHandler())
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	served := serveInBackground(h, &http.Server{Handler: mux}, ln)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	status := func(path string) (int, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := status("/ready"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	term := time.Now()
	h.Signal(syscall.SIGTERM)
	if code, err := status("/ready"); code != 503 {
		t.Fatalf("/ready after SIGTERM: %d %v, want 503", code, err)
	}
	select {
	case <-h.Draining():
		t.Fatal("draining at the signal despite StopDelay")
	default:
	}
	served200 := 0
	client.Timeout = delay // one queued when the drain began waits for Stop
	for {
		select {
		case <-h.Draining():
		default:
			if code, err := status("/"); err != nil || code != 200 {
				select {
				case <-h.Draining():
					continue // the drain began while this request was under way: not in the delay
				default:
				}
				t.Fatalf("request %v after SIGTERM, before the drain: %d %v", time.Since(term), code, err)
			}
			served200++
			time.Sleep(10 * time.Millisecond) // pacing
			continue
		}
		break
	}
	took := time.Since(term)
	waitServed(t, served, 30*time.Second)
	if served200 == 0 {
		t.Fatal("no fresh connection served during the stop delay")
	}
	t.Logf("%d fresh connections served in the stop delay; drain began %v after SIGTERM (StopDelay %v)", served200, took.Round(time.Millisecond), delay)
}

// A second stop signal during the delay drains at once.
func TestStopDelay_SecondSignalDrainsAtOnce(t *testing.T) {
	h, ln := listenWith(t, handoff.Options{NoSignals: true, StopDelay: time.Hour}, testserver.FreeAddr(t))
	served := serveInBackground(h, &http.Server{Handler: http.NotFoundHandler()}, ln)
	for phase, changed := h.Phase(); phase == handoff.PhaseStarting; phase, changed = h.Phase() {
		<-changed
	}
	h.Signal(syscall.SIGTERM)
	h.Signal(syscall.SIGTERM)
	select {
	case <-h.Draining():
	case <-time.After(10 * time.Second):
		t.Fatal("a second signal did not start the drain")
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

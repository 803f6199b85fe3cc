package handoff_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/internal/testserver"
)

// ServeHTTP3 in one process, alone (the Windows path, and Options.
// NoQUICRouting) and as a first generation (routed, its own key): it
// serves, and a drain lets the request in flight finish before
// ServeHTTP3 returns nil.
func TestServeHTTP3_DrainFinishesRequestInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func() (*handoff.Handoff, error)
	}{
		{"alone", func() (*handoff.Handoff, error) {
			return handoff.NewPlain(handoff.Options{NoSignals: true, DrainTimeout: 10 * time.Second}), nil
		}},
		{"unrouted", func() (*handoff.Handoff, error) {
			return handoff.New(handoff.Options{NoSignals: true, NoQUICRouting: true, DrainTimeout: 10 * time.Second})
		}},
		{"first generation", func() (*handoff.Handoff, error) {
			return handoff.New(handoff.Options{NoSignals: true, DrainTimeout: 10 * time.Second})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := tc.new()
			if err != nil {
				t.Fatal(err)
			}
			defer h.Stop()
			serverTLS, clientTLS := testserver.SelfSigned(t)
			ln, err := h.ListenQUIC("127.0.0.1:0", http3.ConfigureTLSConfig(serverTLS), &quic.Config{})
			if err != nil {
				t.Fatal(err)
			}
			entered := make(chan struct{})
			release := make(chan struct{})
			mux := http.NewServeMux()
			mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
				close(entered)
				<-release
				io.WriteString(w, "held")
			})
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			served := make(chan error, 1)
			go func() { served <- h.ServeHTTP3(context.Background(), &http3.Server{Handler: mux}, ln) }()

			tr := &http3.Transport{TLSClientConfig: clientTLS}
			defer tr.Close()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			url := "https://" + ln.Addr().String()
			if got := getBody(t, c, url+"/"); got != "ok" {
				t.Fatalf("GET / = %q", got)
			}
			held := make(chan string, 1)
			go func() { held <- getBody(t, c, url+"/hold") }()
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the held request never reached the handler")
			}
			h.Drain()
			close(release)
			if got := <-held; got != "held" {
				t.Fatalf("request in flight at the drain: %q", got)
			}
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("ServeHTTP3 = %v after a drain, want nil", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("ServeHTTP3 did not return after the drain")
			}
		})
	}
}

func getBody(t *testing.T, c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return strings.TrimSpace(string(b))
}

package slowpath

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHandler_SlowWaitsOthersDoNot(t *testing.T) {
	srv := httptest.NewServer(Handler(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	defer srv.Close()
	for _, c := range []struct {
		path, body string
		atLeast    time.Duration
	}{
		{"/", "/", 0},
		{"/any/path", "/any/path", 0},
		{"/slow", "/slow", 0},
		{"/slow?ms=80", "/slow", 80 * time.Millisecond},
	} {
		start := time.Now()
		resp, err := srv.Client().Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || string(b) != c.body || took < c.atLeast {
			t.Errorf("GET %s: %q (%v) after %v; want %q after at least %v", c.path, b, err, took, c.body, c.atLeast)
		}
	}
}

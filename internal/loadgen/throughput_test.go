package loadgen

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestThroughput measures requests/s against an external server; it runs
// only when LOADGEN_BENCH_URL is set, e.g.
//
//	LOADGEN_BENCH_URL=http://127.0.0.1:8080/ LOADGEN_BENCH_CLIENTS=64 \
//	    go test -run Throughput -v ./internal/loadgen/
func TestThroughput(t *testing.T) {
	url := os.Getenv("LOADGEN_BENCH_URL")
	if url == "" {
		t.Skip("LOADGEN_BENCH_URL not set")
	}
	clients, _ := strconv.Atoi(os.Getenv("LOADGEN_BENCH_CLIENTS"))
	mode, err := ParseMode(os.Getenv("LOADGEN_BENCH_MODE"))
	if err != nil {
		t.Fatal(err)
	}
	d := 5 * time.Second
	if s := os.Getenv("LOADGEN_BENCH_DURATION"); s != "" {
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	g, err := New(Config{URL: url, Clients: clients, Mode: mode, Method: os.Getenv("LOADGEN_BENCH_METHOD")})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(testCtx(t))
	time.Sleep(d) // the measurement period itself, not synchronisation
	rep := g.Stop()
	var b strings.Builder
	rep.WriteTable(&b)
	t.Logf("\n%s", b.String())
}

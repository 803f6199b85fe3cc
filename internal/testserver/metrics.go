package testserver

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scrape GETs url, a Prometheus /metrics, on a connection of its own (no
// keep-alive: a scrape leaves nothing idle behind for a drain to move) and
// returns the text; it fails the test on any error or status but 200.
func Scrape(t testing.TB, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s, %v", url, resp.Status, err)
	}
	return string(b)
}

// MetricValue returns the value of series, `name{label="value",...}` as the
// Prometheus text format prints it, in a scrape's text; ok is false when
// the scrape has no such sample.
func MetricValue(text, series string) (v float64, ok bool) {
	for line := range strings.Lines(text) {
		rest, found := strings.CutPrefix(line, series+" ")
		if !found {
			continue
		}
		f := strings.Fields(rest) // value [timestamp]
		if len(f) == 0 {
			return 0, false
		}
		v, err := strconv.ParseFloat(f[0], 64)
		return v, err == nil
	}
	return 0, false
}

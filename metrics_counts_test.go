package handoff

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The collector's scrape is what the tally counted plus what the
// predecessor handed over; the last-upgrade gauges are the predecessor's
// until this generation has its own; a pedantic registry accepts it.
func TestCollector_OwnPlusInherited(t *testing.T) {
	h := newPlain(Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.Collector())

	h.stats.inherit(map[string]float64{
		upgradesKey("done"):                                  4,
		"handoff_connections_migrated_total":                 10,
		"handoff_last_upgrade_success":                       1,
		"handoff_last_upgrade_timestamp_seconds":             1000,
		`handoff_upgrade_phase_seconds_count{phase="drain"}`: 4,
		"a_newer_builds_series":                              3,
	})
	h.stats.drained(2, 1, 0)
	h.stats.request("coalesced", 2)
	text := scrape(t, reg)
	for series, want := range map[string]float64{
		`handoff_upgrades_total{kind="upgrade",result="done"}`:      4,
		`handoff_upgrades_total{kind="upgrade",result="coalesced"}`: 2,
		`handoff_upgrades_total{kind="upgrade",result="failed"}`:    0,
		"handoff_connections_migrated_total":                        12,
		"handoff_connections_fell_back_total":                       1,
		"handoff_last_upgrade_success":                              1,
		"handoff_last_upgrade_timestamp_seconds":                    1000,
		`handoff_upgrade_phase_seconds_count{phase="drain"}`:        4,
		"handoff_generation":                                        1,
	} {
		if got, ok := testserver.MetricValue(text, series); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if strings.Contains(text, "a_newer_builds_series") {
		t.Error("a series this build does not know was exported")
	}
	if h.stats.totals()["a_newer_builds_series"] != 3 {
		t.Error("a series this build does not know is not carried on")
	}

	// A failed upgrade of this generation's own: its gauges win.
	h.stats.upgradeBegan()
	h.stats.upgraded(errors.New("exited"))
	text = scrape(t, reg)
	if v, _ := testserver.MetricValue(text, "handoff_last_upgrade_success"); v != 0 {
		t.Errorf("last_upgrade_success %v after this generation's failed upgrade, want 0", v)
	}
	if v, _ := testserver.MetricValue(text, "handoff_last_upgrade_timestamp_seconds"); v <= 1000 {
		t.Errorf("last_upgrade_timestamp %v, want this generation's", v)
	}
	if v, _ := testserver.MetricValue(text, `handoff_upgrades_total{kind="upgrade",result="failed"}`); v != 1 {
		t.Errorf("failed = %v, want 1", v)
	}

	// A newer frame from the predecessor replaces the older one whole.
	h.stats.inherit(map[string]float64{upgradesKey("done"): 5})
	if v, _ := testserver.MetricValue(scrape(t, reg), "handoff_connections_migrated_total"); v != 2 {
		t.Errorf("migrated = %v after the predecessor's newer frame, want this generation's 2 plus its 0", v)
	}
}

// Each way an upgrade run ends is counted under its result, and only a run
// that got past the checks has phases.
func TestTally_UpgradeResults(t *testing.T) {
	s := newTally()
	s.upgraded(ErrNotServing) // nothing began
	s.upgradeBegan()
	s.upgradeReady()
	s.upgraded(ErrRolledBack)
	s.upgradeBegan()
	s.upgraded(ErrUpgradeFailed)
	s.upgradeBegan()
	s.upgradeReady()
	s.upgradeDone()
	s.upgraded(nil) // the same run, already counted at cutover
	tot := s.totals()
	for result, want := range map[string]float64{"refused": 1, "rolled_back": 1, "failed": 1, "done": 1} {
		if got := tot[upgradesKey(result)]; got != want {
			t.Errorf("%s = %v, want %v", result, got, want)
		}
	}
	for phase, want := range map[string]float64{"total": 3, "start_to_ready": 2, "probation": 2} {
		if got := tot[series("handoff_upgrade_phase_seconds_count", "phase", phase)]; got != want {
			t.Errorf("phase %s observed %v times, want %v", phase, got, want)
		}
	}
}

// scrape is the registry in the text format, as /metrics serves it.
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

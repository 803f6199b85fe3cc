//go:build unix

package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/preflight"
	"github.com/handoff-go/handoff/internal/testserver"
)

// metricValue finds the sample named series (name{labels} as the text
// format prints it) in a scrape; ok false when absent.
func metricValue(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func scrape(t *testing.T, s *sup) string {
	t.Helper()
	out, code := handoffCmd(t, "metrics", "--control", s.ctl)
	if code != 0 {
		t.Fatalf("handoff metrics: exit %d: %s", code, out)
	}
	return out
}

func wantMetric(t *testing.T, text, series string, want float64) {
	t.Helper()
	v, ok := metricValue(text, series)
	if !ok {
		t.Errorf("no %s in the scrape", series)
		return
	}
	if v != want {
		t.Errorf("%s = %v, want %v", series, v, want)
	}
}

// The counters add up what happened: upgrades done, failed, refused,
// rolled back, a reload, a restart; the gauges agree with the status.
func TestMetrics_CountUpgradesFailuresRefusalsRollbacks(t *testing.T) {
	app := appCopy(t)
	metricsAddr := "127.0.0.1:" + itoa(testserver.FreePort(t))
	s := startSup(t, []string{"-q", "--probation", "1s", "--ready-timeout", "5s", "--drain-timeout", "10s", "--max-draining", "16",
		"--metrics", metricsAddr}, app, "-addr", "ADDR", "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 4)
	l.waitRequests(t, 20)

	expect := func(code int, what string) {
		t.Helper()
		out, got := s.upgrade(t)
		if got != code {
			t.Fatalf("%s: upgrade exit %d, want %d:\n%s", what, got, code, out)
		}
	}
	expect(control.ExitDone, "healthy")
	testserver.WriteExecutable(t, app, []byte("#!/bin/sh\necho broken >&2\nexit 1\n"))
	expect(control.ExitFailed, "exits before ready")
	os.Chmod(app, 0o644)
	expect(control.ExitNotExecutable, "not executable")
	testserver.WriteExecutable(t, app, []byte("#!/bin/sh\nsystemd-notify --ready\nsleep 0.3\nexit 7\n"))
	expect(control.ExitRolledBack, "dies in probation")
	testserver.Replace(t, bin.hello, app)
	if out, code := handoffCmd(t, "reload", "--control", s.ctl); code != 0 {
		t.Fatalf("reload: exit %d:\n%s", code, out)
	}
	l.waitRequests(t, 20)
	l.done(t) // the SIGKILL below cuts what it has in flight
	// A crash: the slot is restarted.
	pid := onlyServingPID(t, s)
	syscall.Kill(pid, syscall.SIGKILL)
	s.waitState(func(st control.Status) bool {
		p := servingPIDs(st)
		return len(p) == 1 && p[0] != pid
	}, 30*time.Second, "the crashed worker restarted")

	text := scrape(t, s)
	wantMetric(t, text, `handoff_upgrades_total{kind="upgrade",result="done"}`, 1)
	wantMetric(t, text, `handoff_upgrades_total{kind="upgrade",result="failed"}`, 1)
	wantMetric(t, text, `handoff_upgrades_total{kind="upgrade",result="refused"}`, 1)
	wantMetric(t, text, `handoff_upgrades_total{kind="upgrade",result="rolled_back"}`, 1)
	wantMetric(t, text, `handoff_upgrades_total{kind="reload",result="done"}`, 1)
	wantMetric(t, text, `handoff_upgrade_refusals_total{reason="not_executable"}`, 1)
	wantMetric(t, text, `handoff_worker_restarts_total`, 1)
	wantMetric(t, text, `handoff_last_upgrade_success`, 1)
	wantMetric(t, text, `handoff_upgrade_phase_seconds_count{phase="total"}`, 5)
	wantMetric(t, text, `handoff_ready`, 1)
	wantMetric(t, text, `handoff_generations{state="serving"}`, 1)
	st, err := s.status()
	if err != nil {
		t.Fatal(err)
	}
	wantMetric(t, text, `handoff_generation`, float64(st.Generations[0].Number))
	// The reload started the bytes of the rollback, i.e. hello's.
	sum, _ := preflight.SHA256(bin.hello)
	wantMetric(t, text, `handoff_build_info{program="`+app+`",sha256="`+sum+`"}`, 1)
	wantMetric(t, text, `handoff_drain_timeouts_total`, 0)
	for _, name := range []string{"process_cpu_seconds_total", "go_goroutines", `handoff_upgrade_phase_seconds_count{phase="start_to_ready"}`,
		`handoff_upgrade_phase_seconds_count{phase="drain"}`} {
		if _, ok := metricValue(text, name); !ok {
			t.Errorf("no %s in the scrape", name)
		}
	}

	// The same registry on TCP, with /ready beside it.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantMetric(t, string(b), `handoff_upgrades_total{kind="upgrade",result="rolled_back"}`, 1)
	resp, err = http.Get("http://" + metricsAddr + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/ready: %s, want 200 while serving", resp.Status)
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
	s.stopClean(t)
}

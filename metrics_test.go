//go:build linux

package handoff_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// metricsServer is hello -metrics: the server, and where its metrics are.
type metricsServer struct {
	*server
	url string
}

func startHelloMetrics(t *testing.T, extra ...string) *metricsServer {
	t.Helper()
	addr := testserver.FreeAddr(t)
	s := startHello(t, append([]string{"-metrics", addr}, extra...)...)
	return &metricsServer{server: s, url: "http://" + addr + "/metrics"}
}

// want checks each series of a scrape of s's metrics against its value.
func (s *metricsServer) want(t *testing.T, what string, series map[string]float64) {
	t.Helper()
	text := testserver.Scrape(t, s.url)
	for name, want := range series {
		got, ok := testserver.MetricValue(text, name)
		switch {
		case !ok:
			t.Errorf("%s: no %s in the scrape", what, name)
		case got != want:
			t.Errorf("%s: %s = %v, want %v", what, name, got, want)
		}
	}
	if t.Failed() {
		t.Fatalf("%s: scrape:\n%s", what, text)
	}
}

// waitMetric waits (30 s at most) until a scrape shows series at want: an
// upgrade that failed is counted once its call returns, which may be just
// after systemd heard of it.
func (s *metricsServer) waitMetric(t *testing.T, series string, want float64) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if v, _ := testserver.MetricValue(testserver.Scrape(t, s.url), series); v == want {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%s did not reach %v within 30s:\n%s", series, want, testserver.Scrape(t, s.url))
		}
	}
}

// goodUpgrade upgrades pid and waits until it exited: its final counts are
// then the new generation's (its Stop waits for the successor to take them).
func (s *metricsServer) goodUpgrade(t *testing.T, pid int) int {
	t.Helper()
	next, status := s.upgrade(pid)
	if next == pid || !strings.Contains(status, "serving") {
		t.Fatalf("upgrade of %d: MAINPID=%d STATUS=%q", pid, next, status)
	}
	waitExit(t, pid, 60*time.Second)
	s.pids.Gone(pid)
	return next
}

// connectionsMoved adds up what each generation of pids logged of its
// drain: keep-alive connections migrated and fallen back.
func (s *metricsServer) connectionsMoved(pids ...int) (migrated, fellBack float64) {
	for _, m := range migrateLine.FindAllStringSubmatch(s.stderr.String(), -1) {
		for _, pid := range pids {
			if m[1] == strconv.Itoa(pid) {
				n, _ := strconv.Atoi(m[2])
				f, _ := strconv.Atoi(m[3])
				migrated += float64(n)
				fellBack += float64(f)
			}
		}
	}
	return migrated, fellBack
}

const upgrades = `handoff_upgrades_total{kind="upgrade",result=`

// The library's counters add up across a self-upgrade chain: the upgrades
// done, failed and rolled back by three generations, their phases, and the
// connections their drains moved, as one scrape of the last generation
// shows them; every upgrade leaves the counters where the previous
// generation left them, never reset.
func TestMetrics_CountersCarriedAcrossSelfUpgrades(t *testing.T) {
	s := startHelloMetrics(t, "-probation", "300ms", "-ready-timeout", "5s", "-drain-idle", "200ms")
	load := startLoad(t, s.addr)
	load.Settle(t, 100)
	gen1 := s.cmd.Process.Pid
	s.want(t, "first generation", map[string]float64{upgrades + `"done"}`: 0, "handoff_generation": 1,
		"handoff_connections_migrated_total": 0})

	gen2 := s.goodUpgrade(t, gen1)
	load.Settle(t, 100)
	migrated, fellBack := s.connectionsMoved(gen1)
	s.want(t, "after one upgrade", map[string]float64{upgrades + `"done"}`: 1, "handoff_generation": 2,
		"handoff_last_upgrade_success": 1, "handoff_connections_migrated_total": migrated,
		"handoff_connections_fell_back_total": fellBack, `handoff_upgrade_phase_seconds_count{phase="drain"}`: 1})

	deployFaulty("exit1")(t, s.server)
	if pid, status := s.upgrade(gen2); pid != gen2 || !strings.Contains(status, "upgrade failed") {
		t.Fatalf("failed upgrade: MAINPID=%d STATUS=%q", pid, status)
	}
	s.waitMetric(t, upgrades+`"failed"}`, 1)
	s.want(t, "after a failed upgrade", map[string]float64{upgrades + `"done"}`: 1, upgrades + `"failed"}`: 1,
		"handoff_last_upgrade_success": 0})

	deployFaulty("probation")(t, s.server)
	s.upgrade(gen2)
	if pid, status := s.nextReady(); pid != gen2 || !strings.Contains(status, "rolled back") {
		t.Fatalf("rollback: MAINPID=%d STATUS=%q", pid, status)
	}
	if _, status := s.nextReady(); !strings.Contains(status, "upgrade failed") { // the upgrade's own report
		t.Fatalf("after the rollback: STATUS=%q", status)
	}
	s.waitMetric(t, upgrades+`"rolled_back"}`, 1)

	testserver.Replace(t, buildBinaries(t)+"/hello", s.exe)
	gen3 := s.goodUpgrade(t, gen2)
	gen4 := s.goodUpgrade(t, gen3)
	load.Settle(t, 100)
	migrated, fellBack = s.connectionsMoved(gen1, gen2, gen3)
	if migrated == 0 {
		t.Errorf("no keep-alive connection moved in three upgrades under load: the test proves less than it says")
	}
	s.want(t, "after five upgrades, three done", map[string]float64{
		upgrades + `"done"}`: 3, upgrades + `"failed"}`: 1, upgrades + `"rolled_back"}`: 1,
		upgrades + `"refused"}`: 0, upgrades + `"coalesced"}`: 0,
		"handoff_generation": 4, "handoff_last_upgrade_success": 1,
		`handoff_upgrade_phase_seconds_count{phase="total"}`:          5,
		`handoff_upgrade_phase_seconds_count{phase="start_to_ready"}`: 4, // the failed one was never ready
		`handoff_upgrade_phase_seconds_count{phase="probation"}`:      4,
		`handoff_upgrade_phase_seconds_count{phase="drain"}`:          3,
		"handoff_connections_migrated_total":                          migrated,
		"handoff_connections_fell_back_total":                         fellBack,
		"handoff_connections_cut_total":                               0,
	})
	text := testserver.Scrape(t, s.url)
	for _, name := range []string{"handoff_build_info{program=", "handoff_last_upgrade_timestamp_seconds ", "go_goroutines ", "process_cpu_seconds_total "} {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("no %s in the scrape", name)
		}
	}
	r := load.stop()
	if r.Requests == 0 {
		t.Fatalf("no load: %s", r)
	}
	t.Logf("generation 4 (pid %d) counts, across 4 generations: %v connections migrated, %v fell back; load %s", gen4, migrated, fellBack, r)
}

// slowOn sends a slow request (ms long, Connection: close) on a fresh
// connection answered first by pid, and returns the channel of its
// outcome: the generation holds that connection, and drains, until then.
func (s *metricsServer) slowOn(t *testing.T, pid, ms int) <-chan error {
	t.Helper()
	for range 50 {
		// A new connection may still be accepted by the generation before
		// (an accept it had begun as it paused): try another.
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		br := bufio.NewReader(conn)
		if got := roundTrip(t, conn, br).Header.Get("X-Pid"); got != strconv.Itoa(pid) {
			conn.Close()
			continue
		}
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := fmt.Fprintf(conn, "GET /slow?ms=%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", ms); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			resp, err := http.ReadResponse(br, nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("X-Pid") != strconv.Itoa(pid) {
					err = fmt.Errorf("slow request: %s from pid %s, want 200 from %d", resp.Status, resp.Header.Get("X-Pid"), pid)
				}
			}
			done <- err
		}()
		return done
	}
	t.Fatalf("no new connection answered by %d", pid)
	return nil
}

// A→B→C with A still draining (a slow request) while B has handed over to
// C and drains too (a slower one): A's final counts reach B, which forwards
// them to C at once, so C's scrape counts A's drain while B still drains;
// B's own final counts follow at its Stop.
func TestMetrics_ChainForwardsTheFinalCountsOfADrainingPredecessor(t *testing.T) {
	s := startHelloMetrics(t, "-probation", "200ms", "-drain-idle", "200ms")
	load := startLoad(t, s.addr)
	load.Settle(t, 100)
	a := s.cmd.Process.Pid
	slowA := s.slowOn(t, a, 3000)

	b, _ := s.upgrade(a)
	if b == a {
		t.Fatal("A→B failed")
	}
	slowB := s.slowOn(t, b, 15000)
	load.Settle(t, 100)
	if c, _ := s.upgrade(b); c == b {
		t.Fatal("B→C failed")
	}
	if err := <-slowA; err != nil {
		t.Fatal(err)
	}
	waitExit(t, a, 60*time.Second)
	s.pids.Gone(a)
	migratedA, fellBackA := s.connectionsMoved(a)
	s.waitMetric(t, `handoff_upgrade_phase_seconds_count{phase="drain"}`, 1)
	select {
	case err := <-slowB:
		t.Fatalf("B's slow request ended (%v) before A's counts were checked on C: the test did not see B forward them", err)
	default:
	}
	s.want(t, "C while B drains", map[string]float64{
		upgrades + `"done"}`: 2, "handoff_generation": 3,
		"handoff_connections_migrated_total":  migratedA,
		"handoff_connections_fell_back_total": fellBackA,
	})

	if err := <-slowB; err != nil {
		t.Fatal(err)
	}
	waitExit(t, b, 60*time.Second)
	s.pids.Gone(b)
	migrated, fellBack := s.connectionsMoved(a, b)
	s.want(t, "C after A and B stopped", map[string]float64{
		upgrades + `"done"}`: 2,
		`handoff_upgrade_phase_seconds_count{phase="drain"}`: 2,
		"handoff_connections_migrated_total":                 migrated,
		"handoff_connections_fell_back_total":                fellBack,
	})
	r := load.stop()
	if r.failed() {
		t.Fatalf("requests failed through the chain: %s", r)
	}
	t.Logf("C counts A's %v and B's %v migrated connections; load %s", migratedA, migrated-migratedA, r)
}

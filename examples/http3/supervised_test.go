//go:build linux

package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// Under `handoff run --listen udp://ADDR` the supervisor only binds and
// passes the socket and introduces each new worker to the old one's
// handover channel; the workers route QUIC between themselves as in a
// self-upgrade. Three upgrades under load: no failed request, every worker
// answered, no connection died.
func TestHTTP3UnderSupervisor_UpgradesLoseNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	certFile, keyFile, tlsConf := writeCert(t)
	addr := testserver.FreeUDPAddr(t)
	ctl := filepath.Join(t.TempDir(), "ctl.sock")
	pids := testserver.NewPIDs(t)
	stderr := &testserver.SyncBuffer{}
	cmd := exec.Command(testserver.Build(t, "../../cmd/handoff"), "run", "--listen", "h3=udp://"+addr, "--control", ctl,
		"--", testserver.Build(t, "."), "-v", "-addr", addr, "-cert", certFile, "-key", keyFile, "-drain-timeout", "3s")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids.Add(cmd.Process.Pid)
	go cmd.Wait()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("supervisor and workers:\n%s", stderr.String())
		}
	})
	c := control.NewClient(ctl)
	first := servingWorker(t, ctx, c, pids)

	l := startLoad("https://"+addr, tlsConf, 3, 3)
	defer l.stop()
	workers := []int{first}
	if err := l.tally.WaitAnswer(ctx, first); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ev, err := c.Upgrade(ctx, nil)
		if err != nil || ev.Stage != control.StageDone {
			t.Fatalf("upgrade %d: %+v, %v", i+1, ev, err)
		}
		next := servingWorker(t, ctx, c, pids)
		if err := l.tally.WaitAnswer(ctx, next); err != nil {
			t.Fatalf("upgrade %d: %v", i+1, err)
		}
		if err := testserver.WaitExit(ctx, workers[len(workers)-1]); err != nil {
			t.Fatalf("upgrade %d: the old worker did not finish its drain: %v", i+1, err)
		}
		workers = append(workers, next)
	}
	answered := l.check(t, "3 upgrades under the supervisor")
	for _, w := range workers {
		if answered[w] == 0 {
			t.Errorf("worker %d answered no request", w)
		}
	}
}

// servingWorker waits for the supervisor to report one serving worker
// and returns its pid (polling the control socket, each ask bounded).
func servingWorker(t *testing.T, ctx context.Context, c *control.Client, pids *testserver.PIDs) int {
	t.Helper()
	for ctx.Err() == nil {
		st, err := c.Status(ctx)
		if err == nil && st.State == "serving" && len(st.Generations) > 0 {
			g := st.Generations[0]
			if g.State == "serving" && len(g.Workers) == 1 && g.Workers[0].State == "ready" {
				pids.Add(g.Workers[0].PID)
				return g.Workers[0].PID
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no serving worker: %v", ctx.Err())
	return 0
}

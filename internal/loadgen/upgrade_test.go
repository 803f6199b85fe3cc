package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// RunWithUpgrades against a server whose "generation" (X-Pid) flips at each
// upgrade: per-upgrade stats name the old and new pid and their timings.
func TestRunWithUpgrades(t *testing.T) {
	var pid atomic.Int64
	pid.Store(1001)
	seen := make(chan int64, 1)
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := pid.Load()
		w.Header().Set("X-Pid", strconv.FormatInt(p, 10))
		w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
		select {
		case seen <- p:
		default:
		}
	}))
	upgrade := func(ctx context.Context, i int) (UpgradeResult, error) {
		old := pid.Load()
		next := 1001 + int64(i+1)%2
		pid.Store(next)
		// Return once the new generation has answered, like a real
		// upgrade that waits for readiness.
		for {
			select {
			case p := <-seen:
				if p == next {
					if i > 0 {
						// Let the report work out the pids itself.
						return UpgradeResult{}, nil
					}
					return UpgradeResult{OldPID: int(old), NewPID: int(next)}, nil
				}
			case <-ctx.Done():
				return UpgradeResult{}, ctx.Err()
			}
		}
	}
	var progress atomic.Int64
	cfg := Config{
		URL: url, Clients: 3, Mode: ModeMixed,
		Upgrades: 2, Warmup: 100 * time.Millisecond, Every: 150 * time.Millisecond,
		Cooldown: 50 * time.Millisecond, Settle: 50 * time.Millisecond,
		ProgressEvery: 10 * time.Millisecond, Progress: func(Snapshot) { progress.Add(1) },
	}
	rep, err := RunWithUpgrades(testCtx(t), cfg, upgrade)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Failures != 0 {
		t.Fatalf("failures %d %v", rep.Failures, rep.Errors)
	}
	if len(rep.Upgrades) != 2 {
		t.Fatalf("%d upgrades", len(rep.Upgrades))
	}
	for i, u := range rep.Upgrades {
		oldPID, newPID := 1001+i%2, 1001+(i+1)%2
		if len(u.NewPIDs) != 1 || u.NewPIDs[0] != newPID || len(u.OldPIDs) != 1 || u.OldPIDs[0] != oldPID {
			t.Errorf("upgrade %d: %+v", i+1, u)
		}
		if u.FirstNewPID == nil || *u.FirstNewPID < 0 || u.Requests == 0 || u.Took <= 0 {
			t.Errorf("upgrade %d: first new %v requests %d took %v", i+1, u.FirstNewPID, u.Requests, u.Took)
		}
	}
	if len(rep.PIDs) != 2 || rep.PIDs[0].PID != 1001 || rep.PIDs[1].PID != 1002 {
		t.Fatalf("pids %+v", rep.PIDs)
	}
	var sum int64
	for _, p := range rep.PIDs {
		sum += p.Requests
	}
	if sum+rep.UnknownPID != rep.Requests || rep.Steady.Count+rep.Upgrade.Count != uint64(rep.Requests) || rep.Upgrade.Count == 0 {
		t.Fatalf("pid sum %d, steady %d + upgrade %d, requests %d", sum, rep.Steady.Count, rep.Upgrade.Count, rep.Requests)
	}
	if progress.Load() == 0 {
		t.Fatal("no progress callbacks")
	}
	b, err := json.Marshal(rep)
	if err != nil || !json.Valid(b) {
		t.Fatalf("json: %v", err)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "PASS") {
		t.Fatalf("table: %v\n%s", err, buf.String())
	}
	t.Logf("\n%s", buf.String())
}

func TestRunWithUpgradesError(t *testing.T) {
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	boom := errors.New("boom")
	calls := 0
	rep, err := RunWithUpgrades(testCtx(t), Config{
		URL: url, Clients: 1, Upgrades: 5, Warmup: time.Millisecond, Every: time.Millisecond,
		Cooldown: time.Millisecond,
	}, func(ctx context.Context, i int) (UpgradeResult, error) {
		calls++
		if i == 1 {
			return UpgradeResult{}, boom
		}
		if i == 0 {
			panic("oops")
		}
		return UpgradeResult{}, nil
	})
	// The panic in upgrade 1 ends the sequence.
	if err == nil || calls != 1 || rep == nil || len(rep.Upgrades) != 1 || !strings.Contains(rep.Upgrades[0].Error, "oops") || rep.OK() {
		t.Fatalf("err %v calls %d rep %+v", err, calls, rep)
	}
	if _, err := RunWithUpgrades(testCtx(t), Config{URL: url, Upgrades: 1}, nil); err == nil {
		t.Fatal("nil upgrade function accepted")
	}
}

// OnUpgrade is called once per upgrade, in order, after the upgrade is
// marked done, with totals that include the requests so far.
func TestRunWithUpgradesOnUpgrade(t *testing.T) {
	url := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var got []UpgradeDone
	boom := errors.New("boom")
	_, err := RunWithUpgrades(testCtx(t), Config{
		URL: url, Clients: 2, Upgrades: 3, Warmup: 20 * time.Millisecond, Every: 10 * time.Millisecond,
		Cooldown:  time.Millisecond,
		OnUpgrade: func(d UpgradeDone) { got = append(got, d) },
	}, func(ctx context.Context, i int) (UpgradeResult, error) {
		if i == 1 {
			return UpgradeResult{NewPID: 7}, boom
		}
		return UpgradeResult{NewPID: 5}, nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	// The failed upgrade ends the sequence, and is reported too.
	if len(got) != 2 || got[0].Index != 0 || got[1].Index != 1 || got[0].Err != nil || !errors.Is(got[1].Err, boom) {
		t.Fatalf("calls %+v", got)
	}
	if got[0].Result.NewPID != 5 || got[1].Result.NewPID != 7 || got[1].Snapshot.Upgrades != 2 || got[1].Snapshot.Upgrading {
		t.Fatalf("calls %+v", got)
	}
	if got[0].Snapshot.Requests == 0 {
		t.Fatalf("no requests before the first upgrade: %+v", got[0])
	}
}

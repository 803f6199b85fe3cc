package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// UpgradeFunc performs upgrade number i (0-based) and returns once it has
// completed (the new generation serves, the old one is draining or gone).
// ctx is RunWithUpgrades' context.
type UpgradeFunc func(ctx context.Context, i int) (UpgradeResult, error)

// UpgradeDone describes one finished upgrade for Config.OnUpgrade.
type UpgradeDone struct {
	Index    int           // 0-based
	Took     time.Duration // the upgrade function's run time
	Result   UpgradeResult // what it returned
	Err      error         // its error, nil on success
	Snapshot Snapshot      // live totals just after it returned
}

// RunWithUpgrades starts load as cfg describes, waits cfg.Warmup, then calls
// upgrade cfg.Upgrades times, the i-th at Warmup+i*Every after the start (or
// right after the previous call returns, if that is later), keeps the load on
// for cfg.Cooldown, stops, and returns the report. Each call is marked as an
// upgrade window (see Generator.Mark).
//
// An upgrade that returns an error ends the sequence: it is recorded in the
// report, the load still runs its cooldown (so its aftermath is measured),
// and the error is returned alongside the report. If ctx is cancelled the
// run is aborted and the partial report is returned with ctx's error. The
// report is non-nil whenever the config is valid.
func RunWithUpgrades(ctx context.Context, cfg Config, upgrade UpgradeFunc) (*Report, error) {
	if upgrade == nil && cfg.Upgrades > 0 {
		return nil, errors.New("loadgen: Upgrades set without an upgrade function")
	}
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	cfg = g.Config()
	if err := g.Start(ctx); err != nil {
		return nil, err
	}
	start := time.Now()

	var runErr error
	for i := range cfg.Upgrades {
		at := start.Add(cfg.Warmup + time.Duration(i)*cfg.Every)
		if !sleepUntil(ctx, at) {
			break
		}
		g.Mark(fmt.Sprintf("upgrade %d", i+1))
		t0 := time.Now()
		res, err := callUpgrade(ctx, upgrade, i)
		g.MarkResult(res, err)
		if cfg.OnUpgrade != nil {
			cfg.OnUpgrade(UpgradeDone{Index: i, Took: time.Since(t0), Result: res, Err: err, Snapshot: g.Snapshot()})
		}
		if err != nil {
			runErr = fmt.Errorf("upgrade %d: %w", i+1, err)
			break
		}
	}
	if cfg.Upgrades == 0 {
		sleepUntil(ctx, start.Add(cfg.Warmup))
	}
	sleepUntil(ctx, time.Now().Add(cfg.Cooldown))
	rep := g.Stop()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, runErr
}

// callUpgrade turns a panicking upgrade function into an error, so that the
// load is still stopped and reported.
func callUpgrade(ctx context.Context, f UpgradeFunc, i int) (res UpgradeResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("upgrade function panicked: %v", p)
		}
	}()
	return f(ctx, i)
}

// sleepUntil waits for t or ctx; it reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/loadgen"
)

// Result is what `handoff bench` and `handoff demo` print and write as
// JSON: the load generator's report plus the verdicts the report cannot make
// on its own (did each upgrade produce a new generation; are cut held
// connections acceptable). Its JSON is the report's, with these fields added.
type Result struct {
	*loadgen.Report

	// Demo is set by `handoff demo`: the mode and, per upgrade, the time
	// from the trigger to the new generation's readiness.
	Demo *DemoInfo `json:"demo,omitempty"`

	// PerUpgrade repeats, per upgrade, the failures per million requests
	// of its window and whether a new generation answered.
	PerUpgrade []UpgradeVerdict `json:"per_upgrade"`
	// NoNewGeneration lists the upgrades (1-based) after which no pid other
	// than the old generation's answered, although the server names its
	// pid: the upgrade did not replace the serving process.
	NoNewGeneration []int `json:"no_new_generation"`
	// PIDsUnknown: no answer carried a pid (X-Pid header or a number on
	// the body's first line), so generations cannot be told apart.
	PIDsUnknown bool `json:"pids_unknown,omitempty"`
	// FailuresPerUpgrade is the failed requests of all upgrade windows
	// divided by the number of upgrades.
	FailuresPerUpgrade float64 `json:"failures_per_upgrade"`
	// Duplicates is the number of requests answered twice (the server
	// echoed the X-Request-Id of an earlier, already answered request).
	Duplicates int64 `json:"duplicates"`

	AllowCuts    bool `json:"allow_cuts,omitempty"`
	AllowSamePID bool `json:"allow_same_pid,omitempty"`
	// Pass is the verdict the exit status reflects; Why lists what failed.
	Pass bool     `json:"pass"`
	Why  []string `json:"why,omitempty"`
}

// UpgradeVerdict is one upgrade's line of Result.PerUpgrade.
type UpgradeVerdict struct {
	Index              int     `json:"index"`
	FailuresPerMillion float64 `json:"failures_per_million"`
	NewGeneration      bool    `json:"new_generation"`
}

// DemoInfo is the demo's part of the JSON.
type DemoInfo struct {
	Mode        string             `json:"mode"`
	TimeToReady []loadgen.Duration `json:"time_to_ready_ms"`
}

// Judge derives the verdicts from rep. Policy, in one place:
//   - a failed request, a failed upgrade or an aborted run fails (Report.OK);
//   - cut held connections fail unless allowCuts: handoff promises to keep
//     them, and an idle cut, though a real client only reconnects, is the
//     first step to a failed request on a busier connection;
//   - an upgrade after which no new pid answered fails unless allowSamePID
//     (servers that reload in place): otherwise "zero failures" would be a
//     pass for an upgrade that never happened. When no answer names a pid,
//     this cannot be checked and is only reported.
func Judge(rep *loadgen.Report, allowCuts, allowSamePID bool) *Result {
	r := &Result{Report: rep, AllowCuts: allowCuts, AllowSamePID: allowSamePID,
		PerUpgrade: []UpgradeVerdict{}, NoNewGeneration: []int{}}
	r.Duplicates = rep.Outcomes.Duplicate
	r.PIDsUnknown = len(rep.PIDs) == 0 && rep.UnknownPID > 0
	var windowFailures int64
	for _, u := range rep.Upgrades {
		v := UpgradeVerdict{Index: u.Index, NewGeneration: len(u.NewPIDs) > 0}
		if u.Requests > 0 {
			v.FailuresPerMillion = float64(u.Failures) / float64(u.Requests) * 1e6
		}
		windowFailures += u.Failures
		if !v.NewGeneration && !r.PIDsUnknown && u.Error == "" {
			r.NoNewGeneration = append(r.NoNewGeneration, u.Index)
		}
		r.PerUpgrade = append(r.PerUpgrade, v)
	}
	if n := len(rep.Upgrades); n > 0 {
		r.FailuresPerUpgrade = float64(windowFailures) / float64(n)
	}

	if rep.Failures > 0 {
		r.Why = append(r.Why, fmt.Sprintf("%d failed requests", rep.Failures))
	}
	for _, u := range rep.Upgrades {
		if u.Error != "" {
			r.Why = append(r.Why, fmt.Sprintf("upgrade %d failed", u.Index))
		}
	}
	if rep.Aborted {
		r.Why = append(r.Why, "interrupted")
	}
	if rep.Cuts > 0 && !allowCuts {
		r.Why = append(r.Why, fmt.Sprintf("%d held connections cut (--allow-cuts accepts that)", rep.Cuts))
	}
	if len(r.NoNewGeneration) > 0 && !allowSamePID {
		r.Why = append(r.Why, fmt.Sprintf("no new generation after %d upgrades (--allow-same-pid accepts that)", len(r.NoNewGeneration)))
	}
	r.Pass = len(r.Why) == 0
	return r
}

// WriteSummary prints what the report's table does not: failures per
// million per upgrade, the time to a new generation, the pid verdicts and
// the final line. name prefixes the verdict ("bench", "demo").
func (r *Result) WriteSummary(w io.Writer, name string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\n")
	if n := len(r.PerUpgrade); n > 0 {
		fpm := make([]string, n)
		for i, v := range r.PerUpgrade {
			fpm[i] = fmt.Sprintf("%.0f", v.FailuresPerMillion)
		}
		p("failures per million requests, per upgrade window: %s (%.1f failed requests per upgrade)\n",
			strings.Join(fpm, " "), r.FailuresPerUpgrade)
	}
	p("answered twice (duplicate X-Request-Id): %d\n", r.Duplicates)
	if d := r.Demo; d != nil && len(d.TimeToReady) > 0 {
		p("time to new generation: ready %s after the trigger\n", durStats(d.TimeToReady))
	}
	var first, last []loadgen.Duration
	for _, u := range r.Upgrades {
		if u.FirstNewPID != nil {
			first = append(first, *u.FirstNewPID)
		}
		if u.LastOldPID != nil {
			last = append(last, *u.LastOldPID)
		}
	}
	if len(first) > 0 {
		p("first answer from a new pid: %s after the trigger\n", durStats(first))
	}
	if len(last) > 0 {
		p("last answer from an old pid: %s after the trigger\n", durStats(last))
	}
	if r.PIDsUnknown && len(r.Upgrades) > 0 {
		p("pids unknown: no answer carried an X-Pid header or a pid on the body's first line, so generations cannot be told apart\n")
	}
	if len(r.NoNewGeneration) > 0 {
		p("NO NEW GENERATION after upgrade %s: no pid but the old one answered (the upgrade did not replace the serving process)\n",
			joinInts(r.NoNewGeneration))
	}
	if r.Hold != nil {
		p("held connections: %d, cut by the server: %d\n", r.Hold.Conns, r.Cuts)
	}
	if r.Pass {
		p("%s: PASS: %d requests, %d upgrades, no failed request\n", name, r.Requests, len(r.Upgrades))
	} else {
		p("%s: FAIL: %s\n", name, strings.Join(r.Why, ", "))
	}
}

// durStats formats "p50 X, max Y" of ds.
func durStats(ds []loadgen.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("p50 %s, max %s (%d upgrades)", s[(len(s)-1)/2], s[len(s)-1], len(s))
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// writeJSON writes r to path, indented; "-" means stdout.
func (r *Result) writeJSON(path string, stdout io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// SettleFor is how long after an upgrade requests still count as "around"
// it: the load generator's default, but at most half the interval between
// upgrades, so that frequent upgrades still leave some steady state to
// compare with.
func SettleFor(every time.Duration) time.Duration {
	return min(loadgen.DefaultSettle, every/2)
}

// ExitStatus writes the JSON report if asked and turns the result into the
// command's exit status: 130 when interrupted, 1 when the run failed.
func (r *Result) ExitStatus(ctx context.Context, name, jsonPath string, stdout, stderr io.Writer) int {
	if jsonPath != "" {
		if err := r.writeJSON(jsonPath, stdout); err != nil {
			fmt.Fprintf(stderr, "handoff %s: %v\n", name, err)
			return ExitFail
		}
	}
	switch {
	case ctx.Err() != nil:
		return ExitInterrupted
	case !r.Pass:
		return ExitFail
	}
	return ExitOK
}

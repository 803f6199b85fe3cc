package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints a human summary of r: totals, outcomes, latency for
// steady state and around upgrades, one line per upgrade, the pids that
// served, sample errors, and a PASS/FAIL verdict (Report.OK).
func (r *Report) WriteTable(w io.Writer) error {
	if r == nil {
		_, err := io.WriteString(w, "no report\n")
		return err
	}
	ew := &errWriter{w: w}
	p := func(format string, a ...any) { fmt.Fprintf(ew, format, a...) }

	p("target   %s %s (path %s)  mode %s", r.Method, r.URL, r.Path, r.Mode)
	if r.Clients > 0 {
		p("  clients %d", r.Clients)
	}
	if r.Hold != nil {
		p("  held %d every %s", r.Hold.Conns, r.Hold.Interval)
	}
	if r.SlowPath != "" && r.SlowFraction > 0 {
		p("  slow %.1f%% -> %s", r.SlowFraction*100, r.SlowPath)
	}
	p("\n")
	p("load     %s  %d requests  %.0f req/s  %d failed (%.2f per million, %d outside upgrades)",
		r.Elapsed, r.Requests, r.RPS, r.Failures, r.FailuresPerMillion, r.SteadyFailures)
	if r.Hold != nil || r.Cuts > 0 {
		p("  %d cut connections", r.Cuts)
	}
	if r.Aborted {
		p("  (aborted)")
	}
	p("\n")

	var parts []string
	for o := Outcome(0); o < numOutcomes; o++ {
		if n := r.Outcomes.Get(o); n > 0 || o == OutcomeOK {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
	}
	p("outcomes %s\n\n", strings.Join(parts, ", "))

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "latency\tcount\tmin\tp50\tp90\tp99\tp99.9\tmax\t\n")
	for _, row := range []struct {
		name string
		s    LatencySummary
	}{{"steady", r.Steady}, {"upgrades", r.Upgrade}} {
		s := row.s
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.name, s.Count, s.Min, s.P50, s.P90, s.P99, s.P999, s.Max)
	}
	tw.Flush()

	if len(r.Upgrades) > 0 {
		p("\n")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "upgrade\tat\ttook\trequests\tfailed\tcuts\tmax lat\tfirst new\tlast old\tpids\t\n")
		for _, u := range r.Upgrades {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n",
				u.Index, u.At, u.Took, u.Requests, u.Failures, u.Cuts, u.MaxLatency,
				optDur(u.FirstNewPID), optDur(u.LastOldPID), pidChange(u.OldPIDs, u.NewPIDs))
		}
		tw.Flush()
		for _, u := range r.Upgrades {
			if u.Error != "" {
				p("upgrade %d error: %s\n", u.Index, u.Error)
			}
		}
	}

	if len(r.PIDs) > 0 || r.UnknownPID > 0 {
		p("\npids    ")
		for i, pr := range r.PIDs {
			if i > 0 {
				p(", ")
			}
			p("%d: %d (%s..%s)", pr.PID, pr.Requests, pr.First, pr.Last)
		}
		if r.UnknownPID > 0 {
			if len(r.PIDs) > 0 {
				p(", ")
			}
			p("unknown: %d", r.UnknownPID)
		}
		p("\n")
	}

	if len(r.Errors) > 0 {
		p("\nsample errors:\n")
		for o := Outcome(0); o < numOutcomes; o++ {
			for _, s := range r.Errors[o.String()] {
				p("  %-10s %s\n", o, s)
			}
		}
	}

	if r.OK() {
		p("\nPASS: no failed request")
		if r.Cuts > 0 {
			p(" (but %d held connections were cut)", r.Cuts)
		}
		p("\n")
	} else {
		why := []string{fmt.Sprintf("%d failed requests", r.Failures)}
		for _, u := range r.Upgrades {
			if u.Error != "" {
				why = append(why, fmt.Sprintf("upgrade %d failed", u.Index))
			}
		}
		if r.Aborted {
			why = append(why, "aborted")
		}
		p("\nFAIL: %s\n", strings.Join(why, ", "))
	}
	return ew.err
}

func optDur(d *Duration) string {
	if d == nil {
		return "-"
	}
	return d.String()
}

func pidChange(old, new []int) string {
	f := func(p []int) string {
		if len(p) == 0 {
			return "?"
		}
		s := make([]string, len(p))
		for i, v := range p {
			s[i] = fmt.Sprint(v)
		}
		return strings.Join(s, ",")
	}
	return f(old) + "->" + f(new)
}

// errWriter keeps the first write error so that WriteTable can report it
// without checking every Fprintf.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return len(b), nil
	}
	_, err := e.w.Write(b)
	if err != nil {
		e.err = err
	}
	return len(b), nil
}

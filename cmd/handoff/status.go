//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func init() {
	register(&command{
		Name:    "status",
		Summary: "show a supervisor's generations, workers, uptimes and last upgrade",
		Run:     statusCmd,
	})
}

func statusCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", "status [--control SOCK] [--json]", stderr)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	path, code, ok := parseClientFlags(fs, args, stderr)
	if !ok {
		return code
	}
	st, err := control.NewClient(path).Status(context.Background())
	if err != nil {
		fmt.Fprintln(stderr, "handoff status:", err)
		return exitUsage
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(st)
		return exitOK
	}
	io.WriteString(stdout, formatStatus(st))
	return exitOK
}

func formatStatus(st control.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "supervisor pid %d: %s, up %v\n", st.PID, st.State, time.Since(st.Started).Round(time.Second))
	if sv := st.Supervisor; sv != nil {
		fmt.Fprintf(&b, "supervisor: handoff %s, %s", sv.Version, sv.Executable)
		if sv.ReExecs > 0 {
			fmt.Fprintf(&b, ", re-executed in place %d times (last at %s)", sv.ReExecs, sv.ReExecAt.Format(time.TimeOnly))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "program: %s\n", strings.Join(st.Args, " "))
	for _, l := range st.Listeners {
		fmt.Fprintf(&b, "listen: %s=%s\n", l.Name, l.Address)
	}
	if len(st.Generations) == 0 {
		b.WriteString("no workers\n")
	}
	for _, g := range st.Generations {
		fmt.Fprintf(&b, "generation %d: %s, age %s, %s", g.Number, g.State, g.Age, g.Path)
		if g.SHA256 != "" {
			fmt.Fprintf(&b, " sha256 %.12s", g.SHA256)
		}
		if g.RollbackOf != 0 {
			fmt.Fprintf(&b, " (generation %d's program again)", g.RollbackOf)
		}
		b.WriteString("\n")
		for _, w := range g.Workers {
			fmt.Fprintf(&b, "  pid %-8d %-9s up %-8s", w.PID, w.State, w.Uptime)
			if w.MainPID != 0 {
				fmt.Fprintf(&b, " main pid %d", w.MainPID)
			}
			if w.Restarts > 0 {
				fmt.Fprintf(&b, " restarts %d", w.Restarts)
			}
			if w.Status != "" {
				fmt.Fprintf(&b, " status %q", w.Status)
			}
			if w.Handover != "" {
				b.WriteString(" handover")
				if w.HandoverState {
					b.WriteString("+state")
				}
			}
			b.WriteString("\n")
		}
	}
	if u := st.LastUpgrade; u != nil {
		fmt.Fprintf(&b, "last upgrade: %s at %s, took %s: %s\n", u.Result, u.Started.Format(time.TimeOnly), u.Took, u.Message)
	}
	return b.String()
}

// isReachable reports whether anything accepts on the control socket.
func isReachable(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

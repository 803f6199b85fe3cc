//go:build !windows

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/handoff-go/handoff/internal/control"
)

func init() {
	register(&command{
		Name:    "metrics",
		Summary: "print a supervisor's metrics in the Prometheus text format",
		Run:     metricsCmd,
	})
}

func metricsCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("metrics", `metrics [--control SOCK]

Prints GET /metrics of the control socket: upgrades by kind and result,
refusals by reason, phase durations, the serving generation and its
program's SHA-256, generations and workers by state, restarts, crash loops,
and the process and Go collectors. 'handoff run --metrics ADDR' serves the
same on TCP for Prometheus.`, stderr)
	path, code, ok := parseClientFlags(fs, args, stderr)
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	text, err := control.NewClient(path).Metrics(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "handoff metrics:", err)
		return exitUsage
	}
	io.WriteString(stdout, text)
	return exitOK
}

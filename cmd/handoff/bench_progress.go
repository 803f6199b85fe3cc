package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/handoff-go/handoff/internal/loadgen"
)

// lockedWriter serialises writes: the upgrade command's output, progress
// lines and the final report come from different goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// progressLine formats the once-a-second line of `handoff bench`.
func progressLine(s loadgen.Snapshot, upgrades int) string {
	line := fmt.Sprintf("%6.1fs %8.0f req/s %10d requests %6d failed", s.Elapsed.Seconds(), s.RPS, s.Requests, s.Failures)
	if s.Cuts > 0 {
		line += fmt.Sprintf(" %d cut", s.Cuts)
	}
	if upgrades > 0 {
		line += fmt.Sprintf("  upgrade %d/%d", s.Upgrades, upgrades)
		if s.Upgrading {
			line += " running"
		}
	}
	return line + "\n"
}

// upgradeLine formats the line printed after each upgrade of `handoff
// bench`: served is the number of requests since the previous upgrade line.
func upgradeLine(d loadgen.UpgradeDone, total int, served int64) string {
	status := "done"
	if d.Err != nil {
		status = "FAILED: " + d.Err.Error()
	}
	return fmt.Sprintf("upgrade %2d/%d %s in %s, %d requests served meanwhile, %d failed so far\n",
		d.Index+1, total, status, loadgen.Duration(d.Took), served, d.Snapshot.Failures)
}

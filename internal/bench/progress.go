package bench

import (
	"fmt"
	"io"
	"sync"

	"github.com/handoff-go/handoff/internal/loadgen"
)

// LockedWriter serialises writes: the upgrade command's output, progress
// lines and the final report come from different goroutines.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer // where the writes go
}

// Write writes p to W, one call at a time.
func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
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

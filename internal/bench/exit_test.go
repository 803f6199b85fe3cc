//go:build !windows

package bench

import (
	"testing"

	"github.com/handoff-go/handoff/internal/control"
)

func TestExitUsageIsTheSubcommandsOwn(t *testing.T) {
	if ExitUsage != control.ExitUsage {
		t.Fatalf("bench.ExitUsage %d, control.ExitUsage %d", ExitUsage, control.ExitUsage)
	}
}

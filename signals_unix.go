//go:build !windows

package handoff

import (
	"os"
	"syscall"
)

// upgradeSignals start an upgrade, as they do nginx's.
var upgradeSignals = []os.Signal{syscall.SIGHUP, syscall.SIGUSR2}

//go:build windows

package handoff

import "os"

// upgradeSignals: none on Windows, where there are no upgrades.
var upgradeSignals []os.Signal

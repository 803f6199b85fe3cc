package testserver

import (
	"os"
	"strconv"
	"testing"
)

// ChurnUpgrades is how many upgrades a churn test (the root's and the
// supervisor's) runs: $CHURN_UPGRADES when set, a whole number of at least
// 1 (anything else fails the test); else 20 with -short or when slow says
// each upgrade is slow; else 60.
func ChurnUpgrades(t testing.TB, slow bool) int {
	t.Helper()
	if v := os.Getenv("CHURN_UPGRADES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHURN_UPGRADES=%q: not a count", v)
		}
		return n
	}
	if testing.Short() || slow {
		return 20
	}
	return 60
}

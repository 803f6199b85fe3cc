//go:build !linux && !windows

package handoff

import "os"

// parentDeathEcho: see links. Only Linux has a parent-death signal; a
// supervisor gone elsewhere shows as a changed parent.
func (c *chain) parentDeathEcho() bool {
	return c.isSupervised && c.supervisorPID > 0 && os.Getppid() != c.supervisorPID
}

//go:build unix

package launch

import "golang.org/x/sys/unix"

// Alive returns the pids that still name a live process, in order: one that
// answers kill(pid, 0) and is not a zombie. Pids that are not positive are
// dropped. A pid reused by an unrelated process counts as alive: the cost is
// a cap on draining generations reached early, never one exceeded.
func Alive(pids []int) []int {
	var alive []int
	for _, pid := range pids {
		if pid > 0 && unix.Kill(pid, 0) == nil && !Zombie(pid) {
			alive = append(alive, pid)
		}
	}
	return alive
}

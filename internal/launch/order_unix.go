//go:build unix

package launch

import (
	"slices"
	"strings"
)

// Socket is one descriptor a parent passes, with its LISTEN_FDNAMES name.
type Socket struct {
	FD   int
	Name string
}

// Order returns the descriptors of socks sorted by number, and their names
// in the same order, for spawn.Config.Files and Child.Names. Sorted, the
// i-th descriptor is never below its target number 3+i, so the child side
// of fork never has to move one out of the way first: with thousands of
// sockets, those moves would run past RLIMIT_NOFILE (EBADF). socks is not
// changed.
func Order(socks []Socket) (fds []int, names []string) {
	sorted := slices.Clone(socks)
	slices.SortFunc(sorted, func(a, b Socket) int { return a.FD - b.FD })
	fds = make([]int, len(sorted))
	names = make([]string, len(sorted))
	for i, s := range sorted {
		fds[i], names[i] = s.FD, s.Name
	}
	return fds, names
}

// maxNamesLen keeps LISTEN_FDNAMES well under the kernel's 128 KiB limit
// on one environment string (MAX_ARG_STRLEN): past it, exec fails with E2BIG.
const maxNamesLen = 64 << 10

// fitNames shortens the names of inet sockets to "inet" when all names
// together would not fit in LISTEN_FDNAMES (thousands of sockets). A
// successor finds those by address anyway; names that only a name can find
// (files, unix sockets) are kept.
func fitNames(names []string) []string {
	total := 0
	for _, n := range names {
		total += len(n) + 1
	}
	if total <= maxNamesLen {
		return names
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if strings.HasPrefix(n, "tcp") || strings.HasPrefix(n, "udp") {
			out[i] = "inet"
		}
	}
	return out
}

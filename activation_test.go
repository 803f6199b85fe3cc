//go:build linux

package handoff_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// LISTEN_FDS that counts descriptors nobody passed (issue 12, finding 1):
// LISTEN_PID is ours (HANDOFF_ADOPT_FDS makes the program set it, as a
// parent that cannot know the pid before exec does), but fds 3.. are what
// the Go runtime and the program opened themselves. They must be neither
// adopted nor closed: the program serves, upgrades, and serves again, and
// the log says which fds were refused and why.
func TestListenFDsThatAreNotOurs_NeitherAdoptedNorClosed(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run("LISTEN_FDS="+strconv.Itoa(n), func(t *testing.T) {
			t.Parallel()
			s := startServerEnv(t, "hello", []string{"HANDOFF_ADOPT_FDS=1", "LISTEN_FDS=" + strconv.Itoa(n)}, "-probation", "100ms")
			first := s.cmd.Process.Pid
			for i := 0; i < 20; i++ {
				if got := servedBy(t, s.addr); got != first {
					t.Fatalf("request %d served by %d, want %d", i, got, first)
				}
			}
			if strings.Contains(s.stderr.String(), "closing inherited fd") {
				t.Fatalf("closed descriptors it was never passed:\n%s", s.stderr.String())
			}
			second, status := s.upgrade(first)
			if second == first || !strings.Contains(status, "serving") {
				t.Fatalf("upgrade after LISTEN_FDS=%d: MAINPID=%d STATUS=%q", n, second, status)
			}
			waitExit(t, first, 30*time.Second)
			if got := servedBy(t, s.addr); got != second {
				t.Fatalf("served by %d after the upgrade, want %d", got, second)
			}
		})
	}
}

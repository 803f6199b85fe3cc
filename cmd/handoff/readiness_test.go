//go:build unix

package main

import (
	"testing"
)

// The readiness probes for programs that cannot notify: a delay, and a
// command that must exit 0 (it gets the new worker's pid). Both carry an
// upgrade under load without a failed request.
func TestReadyProbes_DelayAndExec(t *testing.T) {
	for _, ready := range []string{"delay:300ms", "exec:kill -0 $HANDOFF_WORKER_PID"} {
		t.Run(ready, func(t *testing.T) {
			s := startSup(t, append([]string{"--ready=" + ready}, fastFlags...), bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
			l := startLoad(t, s.addr, 4)
			l.waitRequests(t, 50)
			out, code := s.upgrade(t)
			if code != 0 {
				t.Fatalf("upgrade with --ready=%s: exit %d:\n%s", ready, code, out)
			}
			l.waitRequests(t, 50)
			l.done(t)
			s.stopClean(t)
		})
	}
}

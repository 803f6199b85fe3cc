//go:build unix

package main

import (
	"strings"
	"testing"
	"time"
)

// After a crash loop the supervisor says "handoff: stopped" once: the last
// worker's exit and the end of the upgrade that watched it both end the
// stop, and only the first may.
func TestCrashLoop_StoppedLoggedOnce(t *testing.T) {
	app := shellApp(t, "#!/bin/sh\nsystemd-notify --ready\nsleep 0.05\nexit 3\n")
	s := launchSup(t, []string{"--crash-limit", "2", "--probation", "1s"}, app)
	s.exitCode(t, 30*time.Second, "supervisor did not give up on the crash loop")
	if n := strings.Count(s.stderr.String(), "handoff: stopped"); n != 1 {
		t.Errorf("\"handoff: stopped\" logged %d times, want once:\n%s", n, s.stderr.String())
	}
}

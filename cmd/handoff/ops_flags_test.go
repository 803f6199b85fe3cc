//go:build unix

package main

import (
	"strings"
	"testing"
)

// Every operator flag and command is in the help an operator reads.
func TestHelp_ListsOperatorFlagsAndCommands(t *testing.T) {
	out, code := handoffCmd(t, "run", "-h")
	if code != 0 {
		t.Fatalf("run -h: exit %d", code)
	}
	for _, flag := range []string{"-check", "-check-timeout", "-verify-sha256", "-hup", "-stop-delay", "-metrics"} {
		if !strings.Contains(out, "  "+flag+" ") && !strings.Contains(out, "  "+flag+"\n") {
			t.Errorf("handoff run -h does not list %s", flag)
		}
	}
	out, _ = handoffCmd(t, "help")
	for _, cmd := range []string{"reload", "metrics"} {
		if !strings.Contains(out, "handoff "+cmd) {
			t.Errorf("handoff help does not list %s:\n%s", cmd, out)
		}
	}
	out, _ = handoffCmd(t, "help", "upgrade")
	for _, code := range []string{"5 the program does not exist", "10 the --check command failed"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), code) {
			t.Errorf("handoff help upgrade does not document %q", code)
		}
	}
	if out, code := handoffCmd(t, "run", "--hup", "sometimes", "--", "true"); code != exitUsage || !strings.Contains(out, "--hup") {
		t.Errorf("run --hup sometimes: exit %d, want %d: %s", code, exitUsage, out)
	}
}

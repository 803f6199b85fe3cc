//go:build unix

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/preflight"
)

// handoff status names each generation's program by path and SHA-256, its
// age, and each worker's pid, readiness and announced handover socket.
func TestStatus_ShowsHashAgeAndHandover(t *testing.T) {
	s := startHello(t)
	sum, err := preflight.SHA256(bin.hello)
	if err != nil {
		t.Fatal(err)
	}
	st := s.waitState(func(st control.Status) bool {
		return len(st.Generations) == 1 && len(st.Generations[0].Workers) == 1 && st.Generations[0].Workers[0].Handover != ""
	}, 15*time.Second, "a worker that announced its handover socket")
	out, code := handoffCmd(t, "status", "--control", s.ctl, "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, out)
	}
	var js control.Status
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("status --json: %v:\n%s", err, out)
	}
	g := js.Generations[0]
	if g.SHA256 != sum || g.Path != bin.hello || g.Age == "" || g.State != "serving" {
		t.Errorf("generation %+v: want path %s, sha256 %s, an age, serving", g, bin.hello, sum)
	}
	if w := g.Workers[0]; w.PID != st.Generations[0].Workers[0].PID || w.State != "ready" || w.Handover == "" {
		t.Errorf("worker %+v", w)
	}
	text, code := handoffCmd(t, "status", "--control", s.ctl)
	if code != 0 || !strings.Contains(text, "sha256 "+sum[:12]) || !strings.Contains(text, "handover") {
		t.Errorf("status: exit %d:\n%s", code, text)
	}
	t.Logf("status:\n%s", text)
	s.stopClean(t)
}

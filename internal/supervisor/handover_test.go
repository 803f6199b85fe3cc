//go:build unix

package supervisor

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/spawn"
)

func TestCheckHandoverPath(t *testing.T) {
	longest := "/" + strings.Repeat("x", maxSocketPath-1)
	for path, ok := range map[string]bool{
		"/run/app/handover.sock": true,
		longest:                  true,
		longest + "x":            false,
		"handover.sock":          false,
		"./h.sock":               false,
		"@abstract":              false,
		"/tmp/a\x00b":            false,
	} {
		if why := checkHandoverPath(path); (why == "") != ok {
			t.Errorf("checkHandoverPath(%q) = %q, want ok=%v", path, why, ok)
		}
	}
	if maxSocketPath != 107 && maxSocketPath != 103 {
		t.Errorf("maxSocketPath = %d, want sun_path less its NUL", maxSocketPath)
	}
}

// relayFixture is a supervisor with no process and one slot, enough to
// exercise what READY=1 records and what a successor is told.
func relayFixture(t *testing.T) (*Supervisor, *worker, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s := &Supervisor{log: slog.New(slog.NewTextHandler(&logs, nil)), slots: make([]*worker, 1)}
	w := &worker{gen: &generation{n: 1}, proc: &spawn.Process{Pid: 4242}, state: workerReady}
	s.slots[0] = w
	return s, w, &logs
}

// introduction is what a new worker's environment says about h: the
// handover variables launch.Child puts there, in order; nil for none.
func introduction(t *testing.T, h launch.Handover) []string {
	t.Helper()
	_, env, err := launch.Child{Program: "/srv/app", Handover: h}.Command()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == proto.EnvHandover || name == proto.EnvHandoverPID || name == proto.EnvState {
			out = append(out, kv)
		}
	}
	return out
}

func ready(t *testing.T, fields ...string) sdnotify.Message {
	t.Helper()
	b, err := sdnotify.Format(append([]string{"READY=1"}, fields...)...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sdnotify.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHandoverRelay_AnnouncementToEnvironment(t *testing.T) {
	const path = "/run/app/h.sock"
	cases := []struct {
		name    string
		fields  []string
		prepare func(w *worker)
		want    []string // nil: nobody introduced
		warn    string
	}{
		{name: "path", fields: []string{proto.HandoverField + "=" + path},
			want: []string{proto.EnvHandover + "=" + path, proto.EnvHandoverPID + "=4242"}},
		{name: "path and state", fields: []string{proto.HandoverField + "=" + path, proto.StateField + "=1"},
			want: []string{proto.EnvHandover + "=" + path, proto.EnvHandoverPID + "=4242", proto.EnvState + "=1"}},
		{name: "state other than 1", fields: []string{proto.HandoverField + "=" + path, proto.StateField + "=yes"},
			want: []string{proto.EnvHandover + "=" + path, proto.EnvHandoverPID + "=4242"}},
		{name: "MAINPID names the listener", fields: []string{proto.HandoverField + "=" + path},
			prepare: func(w *worker) { w.mainPID = 4343 },
			want:    []string{proto.EnvHandover + "=" + path, proto.EnvHandoverPID + "=4343"}},
		{name: "nothing announced", fields: nil},
		{name: "state without path", fields: []string{proto.StateField + "=1"}, warn: "without " + proto.HandoverField},
		{name: "relative path", fields: []string{proto.HandoverField + "=h.sock"}, warn: "not absolute"},
		{name: "path too long", fields: []string{proto.HandoverField + "=/" + strings.Repeat("x", 200)}, warn: "bytes long"},
		{name: "predecessor draining", fields: []string{proto.HandoverField + "=" + path},
			prepare: func(w *worker) { w.state = workerDraining }},
		{name: "predecessor dead", fields: []string{proto.HandoverField + "=" + path},
			prepare: func(w *worker) { w.state = workerExited }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, w, logs := relayFixture(t)
			s.noteHandover(w, ready(t, c.fields...))
			if c.prepare != nil {
				c.prepare(w)
			}
			pid, h := s.handoverEnv(0)
			env := introduction(t, h)
			if !slices.Equal(env, c.want) {
				t.Errorf("env = %q, want %q", env, c.want)
			}
			if (pid != 0) != (c.want != nil) {
				t.Errorf("introduced pid %d with env %q", pid, env)
			}
			got := logs.String()
			if c.warn == "" && got != "" {
				t.Errorf("unexpected log: %s", got)
			}
			if c.warn != "" && (!strings.Contains(got, "level=WARN") || !strings.Contains(got, c.warn) || !strings.Contains(got, "pid=4242")) {
				t.Errorf("log = %q, want a warning naming pid 4242 and %q", got, c.warn)
			}
		})
	}
}

// A later READY=1 replaces the announcement: without the field it is
// withdrawn, and a bad one does not keep the previous path alive.
func TestHandoverRelay_LaterReadyReplacesAnnouncement(t *testing.T) {
	s, w, _ := relayFixture(t)
	s.noteHandover(w, ready(t, proto.HandoverField+"=/a.sock", proto.StateField+"=1"))
	s.noteHandover(w, ready(t, proto.HandoverField+"=relative.sock"))
	if _, h := s.handoverEnv(0); introduction(t, h) != nil {
		t.Fatalf("after a bad announcement, the successor is introduced to %+v", s.slots[0].handover)
	}
	s.noteHandover(w, ready(t, proto.HandoverField+"=/b.sock"))
	s.noteHandover(w, ready(t))
	if _, h := s.handoverEnv(0); introduction(t, h) != nil {
		t.Fatalf("after READY=1 without the field, the successor is introduced to %+v", s.slots[0].handover)
	}
}

func TestHandoverRelay_EmptySlotIntroducesNobody(t *testing.T) {
	s, w, _ := relayFixture(t)
	s.noteHandover(w, ready(t, proto.HandoverField+"=/a.sock"))
	s.slots[0] = nil
	if pid, h := s.handoverEnv(0); pid != 0 || introduction(t, h) != nil {
		t.Fatalf("empty slot: pid %d, env %q", pid, introduction(t, h))
	}
}

// A rollback: the slot's worker died in probation, and the worker it
// replaced still drains, holding the state. The rollback worker is
// introduced to that one, never to the dead; a crash outside probation
// (not watched) introduces nobody, as before.
func TestHandoverRelay_RollbackIsIntroducedToTheDrainingPredecessor(t *testing.T) {
	for _, c := range []struct {
		name        string
		watched     bool
		oldDrains   bool
		wantFromPID int
	}{
		{"rollback, old worker draining", true, true, 4242},
		{"rollback, old worker gone", true, false, 0},
		{"crash after probation", false, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, a, _ := relayFixture(t)
			s.noteHandover(a, ready(t, proto.HandoverField+"=/a.sock", proto.StateField+"=1"))
			a.state = workerDraining
			if !c.oldDrains {
				a.state = workerExited
			}
			b := &worker{gen: &generation{n: 2}, proc: &spawn.Process{Pid: 4343}, state: workerExited, watched: c.watched}
			s.noteHandover(b, ready(t, proto.HandoverField+"=/b.sock", proto.StateField+"=1"))
			s.slots[0] = b
			s.gens = []*generation{a.gen, b.gen}
			a.gen.workers, b.gen.workers = []*worker{a}, []*worker{b}
			pid, h := s.handoverEnv(0)
			if pid != c.wantFromPID {
				t.Fatalf("introduced to pid %d (%+v), want %d", pid, h, c.wantFromPID)
			}
			if pid != 0 && (h.Path != "/a.sock" || !h.State) {
				t.Fatalf("introduction %+v, want the old worker's socket with its state", h)
			}
		})
	}
}

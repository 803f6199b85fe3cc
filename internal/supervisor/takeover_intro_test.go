//go:build unix

package supervisor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	channel "github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/takeover"
)

// introChannel is a real handover channel within the test process: the
// serving side's Sender and the newcomer's Receiver.
func introChannel(t *testing.T) (*channel.Sender, *channel.Receiver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	hl, err := channel.Listen("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hl.Close() })
	accepted := make(chan *channel.Sender, 1)
	go func() {
		snd, err := hl.Accept(ctx, channel.Peer{})
		if err != nil {
			t.Error(err)
		}
		accepted <- snd
	}()
	r, err := channel.Dial(ctx, hl.Path(), channel.Peer{})
	if err != nil {
		t.Fatal(err)
	}
	snd := <-accepted
	if snd == nil {
		t.FailNow()
	}
	t.Cleanup(func() { snd.Close(); r.Close() })
	return snd, r
}

// receiveIntros sends blob (of version) on a real channel and returns
// what the newcomer keeps, its log, and the serving side's SendState
// verdict.
func receiveIntros(t *testing.T, version uint32, blob []byte) (map[int]launch.Handover, string, error) {
	t.Helper()
	snd, r := introChannel(t)
	var logs bytes.Buffer
	s := &Supervisor{log: slog.New(slog.NewTextHandler(&logs, nil)), cfg: Config{Workers: 2}}
	verdict := make(chan error, 1)
	go func() { verdict <- snd.SendState(t.Context(), version, bytes.NewReader(blob)) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := s.receiveIntroductions(ctx, r)
	return got, logs.String(), <-verdict
}

// Every entry is checked on its own: a bad path, a pid of 0, a second
// entry for a slot are warned about and ignored, a slot this supervisor
// does not run is skipped; the rest is relayed and the blob accepted.
func TestIntroductions_BadEntriesCostOnlyTheirSlot(t *testing.T) {
	blob := takeover.EncodeIntros([]takeover.Intro{
		{Slot: 0, PID: 4242, State: true, Path: "/run/a/h.sock"},
		{Slot: 0, PID: 4343, Path: "/run/a/other.sock"},
		{Slot: 1, PID: 0, Path: "/run/a/b.sock"},
		{Slot: 1, PID: 4444, Path: "relative.sock"},
		{Slot: 7, PID: 4545, Path: "/run/a/c.sock"},
	})
	got, logs, err := receiveIntros(t, takeover.IntroVersion, blob)
	if err != nil {
		t.Fatalf("the serving side's SendState: %v, want the blob accepted", err)
	}
	want := map[int]launch.Handover{0: {Path: "/run/a/h.sock", PID: 4242, State: true}}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("relayed %+v, want %+v", got, want)
	}
	for _, reason := range []string{"a second introduction for the slot", "pid 0", "not absolute", "fewer --workers"} {
		if !strings.Contains(logs, reason) {
			t.Errorf("no log line says %q:\n%s", reason, logs)
		}
	}
}

// A blob that is not an introductions record (another version, broken
// framing, too long) is refused, with a warning; the serving side hears
// ErrRefused and its channel stays usable; nothing is relayed.
func TestIntroductions_MalformedBlobRefusedNotFatal(t *testing.T) {
	good := takeover.EncodeIntros([]takeover.Intro{{Slot: 0, PID: 1, Path: "/a"}})
	for name, c := range map[string]struct {
		version uint32
		blob    []byte
		reason  string
	}{
		"another version": {1, good, "not introductions"},
		"broken framing":  {takeover.IntroVersion, good[:len(good)-1], "malformed introductions"},
		"too long":        {takeover.IntroVersion, make([]byte, takeover.MaxIntroSize+1), "over"},
	} {
		t.Run(name, func(t *testing.T) {
			got, logs, err := receiveIntros(t, c.version, c.blob)
			if !errors.Is(err, channel.ErrRefused) {
				t.Errorf("the serving side's SendState: %v, want ErrRefused", err)
			}
			if got != nil {
				t.Errorf("relayed %+v from a refused blob", got)
			}
			if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, c.reason) {
				t.Errorf("log %q, want a warning saying %q", logs, c.reason)
			}
		})
	}
}

// The first generation of a newcomer is introduced to the serving
// supervisor's worker of its slot only where it has none of its own;
// once ready (takeoverReady forgets them), nobody is.
func TestIntroductions_FallbackOnlyWithoutAnOwnPredecessor(t *testing.T) {
	s, w, _ := relayFixture(t)
	s.slots = append(s.slots, nil)
	w.handover = "/own.sock"
	s.tk = &takeoverSide{intros: map[int]launch.Handover{
		0: {Path: "/theirs0.sock", PID: 7000},
		1: {Path: "/theirs1.sock", PID: 7001, State: true},
	}}
	if pid, h := s.handoverEnv(0); pid != 4242 || h.Path != "/own.sock" {
		t.Errorf("slot 0, own worker ready: introduced to %d %+v, want its own 4242", pid, h)
	}
	if pid, h := s.handoverEnv(1); pid != 7001 || h != s.tk.intros[1] {
		t.Errorf("slot 1, empty: introduced to %d %+v, want the serving supervisor's 7001", pid, h)
	}
	if got := s.introductions(); len(got) != 1 || got[0].Path != "/own.sock" {
		t.Errorf("introductions sent on: %+v, want only this supervisor's own worker", got)
	}
	s.tk.intros = nil
	if pid, _ := s.handoverEnv(1); pid != 0 {
		t.Errorf("after the first generation: introduced to %d, want nobody", pid)
	}
}

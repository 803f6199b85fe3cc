package launch

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/sdnotify"
)

// msg is the datagram a sender would build from these lines.
func msg(t *testing.T, lines ...string) sdnotify.Message {
	t.Helper()
	m, err := sdnotify.Parse([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("Parse(%q): %v", lines, err)
	}
	return m
}

func TestCheckReady(t *testing.T) {
	for _, c := range []struct {
		fields []string
		ready  bool
		err    error
	}{
		{[]string{"READY=1"}, true, nil}, // any sd_notify program
		{[]string{"READY=1", proto.ReadyVersion()}, true, nil},
		{[]string{"READY=1", proto.ReadyField + "=2"}, false, proto.ErrVersion},
		{[]string{"READY=1", proto.ReadyField + "=x"}, false, proto.ErrVersion},
		{[]string{"READY=0"}, false, nil},
		{[]string{"STATUS=starting", proto.ReadyField + "=2"}, false, nil},
	} {
		ready, err := CheckReady(msg(t, c.fields...))
		if ready != c.ready || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("CheckReady(%q) = %v, %v; want %v, %v", c.fields, ready, err, c.ready, c.err)
		}
	}
}

func TestMainPID(t *testing.T) {
	if got := MainPID(42); got != "MAINPID=42" {
		t.Fatalf("MainPID(42) = %q", got)
	}
	if pid, ok := ParseMainPID(msg(t, "READY=1", MainPID(42))); !ok || pid != 42 {
		t.Fatalf("ParseMainPID = %d, %v", pid, ok)
	}
	for _, v := range []string{"0", "-3", "x"} {
		if pid, ok := ParseMainPID(msg(t, "MAINPID="+v)); ok {
			t.Errorf("ParseMainPID(MAINPID=%s) = %d, true", v, pid)
		}
	}
	if _, ok := ParseMainPID(msg(t, "READY=1")); ok {
		t.Error("ParseMainPID without MAINPID= is ok")
	}
}

func TestReloadingCarriesTheMonotonicClock(t *testing.T) {
	m := msg(t, Reloading("upgrading")...)
	if v, _ := m.Get("RELOADING"); v != "1" {
		t.Fatalf("RELOADING=%q", v)
	}
	if v, _ := m.Get("STATUS"); v != "upgrading" {
		t.Fatalf("STATUS=%q", v)
	}
	v, _ := m.Get("MONOTONIC_USEC")
	a, err := strconv.ParseInt(v, 10, 64)
	if err != nil || a <= 0 {
		t.Fatalf("MONOTONIC_USEC=%q", v)
	}
	if b, _ := strconv.ParseInt(MonotonicUsec(), 10, 64); b < a {
		t.Fatalf("the clock went back: %d then %d", a, b)
	}
}

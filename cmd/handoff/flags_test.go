//go:build unix

package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

func TestBadFlags_ExitTwoWithMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	ctl := "--control=" + t.TempDir() + "/c.sock"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "no program given"},
		{[]string{"run", ctl, "--listen", "bogus", "--", "x"}, "want NAME=URL"},
		{[]string{"run", ctl, "--listen", "http=ftp://1.2.3.4:5", "--", "x"}, "unknown scheme"},
		{[]string{"run", ctl, "--listen", "http=tcp://127.0.0.1", "--", "x"}, "want tcp://HOST:PORT"},
		{[]string{"run", ctl, "--listen", "http=unix://relative.sock", "--", "x"}, "ABSOLUTE/PATH"},
		{[]string{"run", ctl, "--listen", "a:b=tcp://127.0.0.1:0", "--", "x"}, "invalid fd name"},
		{[]string{"run", ctl, "--listen", "http=tcp://" + busy, "--", "x"}, "address already in use"},
		{[]string{"run", ctl, "--ready=tcp", "--", "x"}, "not offered"},
		{[]string{"run", ctl, "--ready=delay:soon", "--", "x"}, "delay:DURATION"},
		{[]string{"run", ctl, "--strategy=weird", "--", "x"}, "strategy"},
		{[]string{"run", ctl, "--drain-signal=NOPE", "--", "x"}, "unknown signal"},
		{[]string{"run", ctl, "--workers=0", "--", "x"}, "at least 1"},
		{[]string{"run", "--nope"}, "flag provided but not defined"},
		{[]string{"upgrade", "--control", "/nonexistent/ctl.sock"}, "no such file"},
		{[]string{"status", "--control", "/nonexistent/ctl.sock"}, "no such file"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, c := range cases {
		out, code := handoffCmd(t, c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("handoff %s: exit %d, want 2 with %q; output:\n%s", strings.Join(c.args, " "), code, c.want, out)
		}
	}
}

func TestUsageListsEveryRegisteredCommand(t *testing.T) {
	var out bytes.Buffer
	if code := dispatch([]string{"help"}, &out, &out); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for name := range commands {
		if !strings.Contains(out.String(), "handoff "+name) {
			t.Errorf("usage does not mention %q:\n%s", name, out.String())
		}
	}
}

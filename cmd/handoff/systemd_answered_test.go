//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/testserver"
)

// notifyLog is a NOTIFY_SOCKET receiver standing in for systemd.
type notifyLog struct {
	t    *testing.T
	msgs chan string
	seen []string
}

func listenSystemd(t *testing.T) (*notifyLog, string) {
	recv, err := sdnotify.Listen(filepath.Join(t.TempDir(), "systemd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	n := &notifyLog{t: t, msgs: make(chan string, 256)}
	go func() {
		for {
			d, err := recv.Receive()
			if err != nil {
				return
			}
			n.msgs <- string(d.Msg.Bytes())
		}
	}()
	return n, recv.Path()
}

// next returns the next datagram holding want, failing on any datagram
// before it that holds one of refuse.
func (n *notifyLog) next(want string, refuse ...string) string {
	n.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case m := <-n.msgs:
			n.seen = append(n.seen, m)
			if strings.Contains(m, want) {
				return m
			}
			for _, r := range refuse {
				if strings.Contains(m, r) {
					n.t.Fatalf("got %q while waiting for %q; sequence so far:\n%s", m, want, strings.Join(n.seen, "\n"))
				}
			}
		case <-deadline:
			n.t.Fatalf("no notification with %q; sequence so far:\n%s", want, strings.Join(n.seen, "\n"))
		}
	}
}

// systemd is always answered: every reload signal gets RELOADING=1 with
// MONOTONIC_USEC at once, a long upgrade sends EXTEND_TIMEOUT_USEC, one
// READY=1 with a STATUS comes when the upgrade the signals caused or
// queued ends, and a reload signal refused while stopping still gets its
// READY=1 saying so.
func TestUnderSystemd_EveryReloadSignalIsAnswered(t *testing.T) {
	n, sock := listenSystemd(t)
	dir := t.TempDir()
	slowMark := filepath.Join(dir, "slow")
	app := filepath.Join(dir, "app")
	testserver.WriteExecutable(t, app, fmt.Appendf(nil, "#!/bin/sh\n[ -e %s ] && sleep 2.5\nexec %s -addr \"$1\" -drain-idle 200ms\n", slowMark, bin.hello))
	os.Setenv("NOTIFY_SOCKET", sock)
	s := launchSup(t, []string{"-q", "--probation", "100ms", "--drain-timeout", "10s"}, app, "ADDR")
	os.Unsetenv("NOTIFY_SOCKET")
	n.next("READY=1")

	// A slow-starting upgrade, and a second reload signal while it runs.
	if err := os.WriteFile(slowMark, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.hup()
	if m := n.next("RELOADING=1", "READY=1"); !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	s.waitState(func(st control.Status) bool {
		for _, g := range st.Generations {
			if g.Number == 2 && g.State == "starting" {
				return true
			}
		}
		return false
	}, 10*time.Second, "generation 2 starting")
	s.hup()
	if m := n.next("RELOADING=1", "READY=1"); !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("second RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	n.next("EXTEND_TIMEOUT_USEC=", "READY=1")
	m := n.next("READY=1")
	if !strings.Contains(m, "STATUS=generation 3 serving") || !strings.Contains(m, "waited") {
		t.Errorf("READY=1 after the queued follow-up: %q, want generation 3 serving after waiting", m)
	}

	// A reload signal during a stop: refused, and still answered.
	os.Remove(slowMark)
	slow := slowRequest(t, s.addr, onlyServingPID(t, s), 2000)
	s.term()
	n.next("STOPPING=1")
	s.hup()
	n.next("RELOADING=1", "READY=1")
	if m := n.next("READY=1"); !strings.Contains(m, "STATUS=upgrade refused") {
		t.Errorf("READY=1 for a reload refused while stopping: %q", m)
	}
	if r := <-slow; !strings.Contains(r, "200") {
		t.Errorf("request in flight during the stop: %q", r)
	}
	s.exitCode(t, 20*time.Second, "supervisor still running")
}

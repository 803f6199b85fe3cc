//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

func TestUnderSystemd_NotifiesReadyReloadingStopping(t *testing.T) {
	dir := t.TempDir()
	recv, err := sdnotify.Listen(filepath.Join(dir, "systemd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	msgs := make(chan string, 32)
	go func() {
		for {
			d, err := recv.Receive()
			if err != nil {
				return
			}
			msgs <- string(d.Msg.Bytes())
		}
	}()
	next := func(want string) string {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, want) {
					return m
				}
			case <-deadline:
				t.Fatalf("no notification with %q", want)
			}
		}
	}
	os.Setenv("NOTIFY_SOCKET", recv.Path())
	s := launchSup(t, fastFlags, bin.hello, "-addr", "ADDR")
	os.Unsetenv("NOTIFY_SOCKET")
	if m := next("READY=1"); !strings.Contains(m, "MAINPID="+strconv.Itoa(s.cmd.Process.Pid)) {
		t.Errorf("first READY=1 without the supervisor's MAINPID: %q", m)
	}
	go s.upgrade(t)
	if m := next("RELOADING=1"); !strings.Contains(m, "MONOTONIC_USEC=") {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", m)
	}
	if m := next("READY=1"); !strings.Contains(m, "STATUS=generation 2 serving") {
		t.Errorf("READY=1 after the upgrade: %q", m)
	}
	s.stop(t)
	next("STOPPING=1")
}

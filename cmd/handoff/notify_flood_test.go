//go:build unix

package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// A flood of malformed datagrams on a worker's notify socket costs about a
// log line a second, not a line a datagram, and the socket keeps working.
func TestMalformedNotifyFlood_LoggedAtAboutOneLineASecond(t *testing.T) {
	needProc(t)
	s, _, sock := neverReadyWorker(t, "flood", "60s")
	c, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 2000
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := c.Write([]byte("this is not an assignment\n")); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
	}
	// The writes block while the socket's queue is full, so by now all but
	// a few datagrams were read and handed to the loop, ahead of this call
	// on the same queue: once it returns, they were handled.
	if _, err := s.status(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	lines := strings.Count(s.stderr.String(), "malformed notification")
	t.Logf("%d malformed datagrams in %v: %d log lines", n, took.Round(time.Millisecond), lines)
	if max := int(took/time.Second) + 2; lines > max {
		t.Errorf("%d log lines for %d malformed datagrams in %v, want at most %d", lines, n, took, max)
	}
	s.term()
	s.exitCode(t, 20*time.Second, "supervisor still running after TERM")
}

// neverReadyWorker starts the supervisor with a worker that never reports
// ready by itself (a shell that sleeps, tagged for cleanup) and returns the
// supervisor, the worker's pid and the NOTIFY_SOCKET it was given.
func neverReadyWorker(t *testing.T, name, readyTimeout string) (s *sup, worker int, sock string) {
	t.Helper()
	tag := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	killTagged(t, tag)
	app := shellApp(t, fmt.Sprintf("#!/bin/sh\nexport APP_TAG=%s\nexec sleep 600\n", tag))
	s = launchSup(t, []string{"-q", "--ready-timeout", readyTimeout}, app)
	st := s.waitState(func(st control.Status) bool {
		return len(st.Generations) == 1 && len(st.Generations[0].Workers) == 1
	}, 10*time.Second, "a starting worker")
	worker = st.Generations[0].Workers[0].PID
	// The pid is known from the fork: until the child's first execve,
	// /proc/PID/environ is the supervisor's, and read in the middle of an
	// execve it is empty; the worker then passes through the shim and the
	// shell before it is sleep. Wait for the exec of sleep: its environment
	// has the tag the shell exported.
	deadline := time.Now().Add(10 * time.Second)
	for {
		env, err := testserver.Environ(worker)
		if err != nil {
			t.Fatal(err)
		}
		if env["APP_TAG"] == tag {
			if sock = env["NOTIFY_SOCKET"]; sock == "" {
				t.Fatal("worker has no NOTIFY_SOCKET")
			}
			return s, worker, sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker pid %d did not exec its program within 10s", worker)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

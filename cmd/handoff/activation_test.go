//go:build linux

package main

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// activated runs `systemd-socket-activate -l ADDR... handoff run ARGS`:
// the activator binds, execs the supervisor with LISTEN_FDS and its own
// LISTEN_PID, as systemd does.
func activated(t *testing.T, listen []string, args ...string) *activatedSup {
	t.Helper()
	return activatedAs(t, "web", listen, args...)
}

// activatedAs is activated with the activator naming the sockets fdnames
// (LISTEN_FDNAMES, colon-separated).
func activatedAs(t *testing.T, fdnames string, listen []string, args ...string) *activatedSup {
	t.Helper()
	activator, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed")
	}
	s := &activatedSup{sup: &sup{t: t, ctl: filepath.Join(t.TempDir(), "ctl.sock"), stderr: &testserver.SyncBuffer{}, exited: make(chan struct{}), pids: map[int]bool{}}}
	var cmdline []string
	for _, l := range listen {
		cmdline = append(cmdline, "-l", l)
	}
	cmdline = append(cmdline, "--fdname="+fdnames, bin.handoff, "run", "--control", s.ctl)
	cmdline = append(cmdline, args...)
	s.cmd = exec.Command(activator, cmdline...)
	s.cmd.Stdout, s.cmd.Stderr = s.stderr, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	// The activator execs its program at the first connection, as a
	// socket unit starts its service; it says when it listens.
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(s.stderr.String(), "Listening on") < len(listen) {
		select {
		case <-s.exited:
			t.Fatalf("activator exited: %v\n%s", s.waitErr, s.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("activator not listening:\n%s", s.stderr.String())
		}
	}
	trigger, err := net.DialTimeout("tcp", listen[0], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.trigger = trigger
	t.Cleanup(func() { trigger.Close() })
	t.Cleanup(func() { s.cleanup(t) })
	return s
}

type activatedSup struct {
	*sup
	trigger net.Conn // the connection that made the activator exec
}

// Issue 11, item 1: with the address held by an activator, `handoff run`
// used to fail with "address already in use". It must serve on the passed
// socket (matched by address: the activator names it "web", the --listen
// "http"), upgrade on it, and bind nothing itself.
func TestRun_SocketActivated_ServesOnThePassedSocket(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	s := activated(t, []string{addr}, "--listen", "http=tcp://"+addr, "--probation", "0", "--", bin.hello, "-addr", addr)
	s.addr = addr
	st := s.waitState(func(st control.Status) bool { return st.State == "serving" }, 20*time.Second, "first generation serving")
	for _, p := range servingPIDs(st) {
		s.pids[p] = true
	}
	s.trigger.Close() // it sends nothing; a drain would wait for it
	if !strings.Contains(s.stderr.String(), "socket passed by the service manager") {
		t.Fatalf("the supervisor did not say it took the passed socket:\n%s", s.stderr.String())
	}
	first := getPID(t, addr)
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: exit %d: %s", code, out)
	}
	st = s.waitState(func(st control.Status) bool {
		p := servingPIDs(st)
		return st.State == "serving" && len(p) == 1 && p[0] != first
	}, 20*time.Second, "second generation serving")
	for _, p := range servingPIDs(st) {
		s.pids[p] = true
	}
	if got := getPID(t, addr); got == first {
		t.Fatalf("after the upgrade pid %d still answers", got)
	}
	s.stop(t)
}

// A passed socket that no --listen claims is an error at start (exit 2),
// naming the socket: serving on fewer sockets than the activator holds would
// leave connections queued on one nobody accepts from.
func TestRun_SocketActivated_UnmatchedSocketIsAnErrorAtStart(t *testing.T) {
	a := "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	b := "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	s := activated(t, []string{a, b}, "--listen", "http=tcp://"+a, "--", bin.hello, "-addr", a)
	s.exitCode(t, 20*time.Second, "the supervisor did not exit")
	ee, ok := s.waitErr.(*exec.ExitError)
	if !ok || ee.ExitCode() != exitUsage {
		t.Fatalf("exit: %v, want status %d\n%s", s.waitErr, exitUsage, s.stderr.String())
	}
	if out := s.stderr.String(); !strings.Contains(out, "matches no --listen") || !strings.Contains(out, b) {
		t.Fatalf("the error does not name the unmatched socket %s:\n%s", b, out)
	}
}

// getPID asks the server at addr for its pid (X-Pid), over a fresh
// connection.
func getPID(t *testing.T, addr string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	buf := make([]byte, 4096)
	n, _ := readAll(c, buf)
	for _, line := range strings.Split(string(buf[:n]), "\r\n") {
		if v, ok := strings.CutPrefix(line, "X-Pid: "); ok {
			p, _ := strconv.Atoi(v)
			return p
		}
	}
	t.Fatalf("no X-Pid in %q", buf[:n])
	return 0
}

func readAll(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// By name first: a passed socket named like a --listen entry serves it even
// where the addresses differ (the activator decides where its sockets
// listen), and the supervisor says so.
func TestRun_SocketActivated_MatchesByNameBeforeAddress(t *testing.T) {
	written := "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	real := "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	s := activatedAs(t, "http", []string{real}, "--listen", "http=tcp://"+written, "--probation", "0", "--", bin.hello, "-addr", real)
	st := s.waitState(func(st control.Status) bool { return st.State == "serving" }, 20*time.Second, "first generation serving")
	for _, p := range servingPIDs(st) {
		s.pids[p] = true
	}
	s.trigger.Close()
	if out := s.stderr.String(); !strings.Contains(out, "inherited socket listens elsewhere than its --listen says") {
		t.Fatalf("no warning that the socket named http listens at %s, not %s:\n%s", real, written, out)
	}
	if p := getPID(t, real); !s.pids[p] {
		t.Fatalf("pid %d answered on %s, want a worker of the supervisor", p, real)
	}
	if c, err := net.DialTimeout("tcp", written, time.Second); err == nil {
		c.Close()
		t.Fatalf("something listens on %s: the supervisor bound the --listen address besides the passed socket", written)
	}
	s.stop(t)
}

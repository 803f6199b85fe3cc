package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/testserver"
)

func TestRollingUpgradeWithThreeWorkers_NoFailedRequests(t *testing.T) {
	s := startSup(t, append([]string{"--workers", "3", "--strategy", "rolling"}, fastFlags...), bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
	s.waitState(func(st control.Status) bool { return len(servingPIDs(st)) == 3 }, 10*time.Second, "three workers")
	l := startLoad(t, s.addr, 8)
	l.waitRequests(t, 50)
	for i := 0; i < 3; i++ {
		out, code := s.upgrade(t)
		if code != 0 || strings.Count(out, "started pid") != 3 {
			t.Fatalf("upgrade %d: exit %d:\n%s", i, code, out)
		}
		l.waitRequests(t, 20)
	}
	st, _ := s.status()
	if len(st.Generations) == 0 || st.Generations[0].Number != 4 || len(servingPIDs(st)) != 3 {
		t.Fatalf("after 3 rolling upgrades: %+v", st)
	}
	l.finish()
	l.assertNoFailures(t)
	s.stop(t)
	s.assertNoneLeft(t)
}

func TestWINCHDrainsWorkers_ConnectionsWaitUntilHUP(t *testing.T) {
	s := startSup(t, fastFlags, bin.hello, "-addr", "ADDR", "-drain-idle", "100ms")
	s.cmd.Process.Signal(syscall.SIGWINCH)
	s.waitState(func(st control.Status) bool { return st.State == "idle" && len(st.Generations) == 0 }, 10*time.Second, "idle, no workers")
	// A request made now waits in the accept queue the supervisor keeps.
	got := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Post("http://"+s.addr+"/", "text/plain", strings.NewReader("queued"))
		if err != nil {
			got <- err.Error()
			return
		}
		resp.Body.Close()
		got <- resp.Status + " pid " + resp.Header.Get("X-Pid")
	}()
	select {
	case r := <-got:
		t.Fatalf("answered while no worker runs: %s", r)
	case <-time.After(200 * time.Millisecond):
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	select {
	case r := <-got:
		if !strings.HasPrefix(r, "200 OK pid ") {
			t.Fatalf("queued request: %s", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued request not answered after HUP")
	}
	s.stop(t)
	s.assertNoneLeft(t)
}

func TestWatchdog_SilentWorkerIsReplaced(t *testing.T) {
	app := filepath.Join(t.TempDir(), "app")
	writeExecutable(t, app, []byte("#!/bin/sh\nsystemd-notify --ready\nexec sleep 600\n"))
	s := startSup(t, []string{"-q", "--watchdog", "300ms", "--crash-limit", "100"}, app)
	first := onlyServingPID(t, s)
	s.waitState(func(st control.Status) bool {
		p := servingPIDs(st)
		return len(p) == 1 && p[0] != first
	}, 10*time.Second, "a replacement for the silent worker")
	if !strings.Contains(s.stderr.String(), "watchdog") {
		t.Errorf("no watchdog log line:\n%s", s.stderr.String())
	}
	s.stop(t)
}

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

func TestUSR1IsForwardedToWorkers(t *testing.T) {
	py := python(t)
	script, _ := filepath.Abs("../../examples/python/server.py")
	s := startSup(t, fastFlags, py, script)
	s.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "SIGUSR1") {
		if time.Now().After(deadline) {
			t.Fatalf("the worker did not report SIGUSR1:\n%s", s.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop(t)
}

func TestCurlStyleHTTPOnControlSocket(t *testing.T) {
	s := startSup(t, fastFlags, bin.hello, "-addr", "ADDR")
	c, err := net.Dial("unix", s.ctl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("POST /upgrade HTTP/1.1\r\nHost: handoff\r\nContent-Length: 0\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(control.HeaderVersion) != control.Version || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("headers: %v", resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	var last string
	for sc.Scan() {
		last = sc.Text()
	}
	if !strings.Contains(last, `"stage":"done"`) || !strings.Contains(last, `"final":true`) {
		t.Fatalf("last event: %s", last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.client().Status(ctx); err != nil {
		t.Fatal(err)
	}
	s.stop(t)
}

// The readiness probes for programs that cannot notify: a delay, and a
// command that must exit 0 (it gets the new worker's pid). Both carry an
// upgrade under load without a failed request.
func TestReadyProbes_DelayAndExec(t *testing.T) {
	for _, ready := range []string{"delay:300ms", "exec:kill -0 $HANDOFF_WORKER_PID"} {
		t.Run(ready, func(t *testing.T) {
			s := startSup(t, append([]string{"--ready=" + ready}, fastFlags...), bin.hello, "-addr", "ADDR", "-drain-idle", "200ms")
			l := startLoad(t, s.addr, 4)
			l.waitRequests(t, 50)
			out, code := s.upgrade(t)
			if code != 0 {
				t.Fatalf("upgrade with --ready=%s: exit %d:\n%s", ready, code, out)
			}
			l.waitRequests(t, 50)
			l.finish()
			l.assertNoFailures(t)
			s.stop(t)
			s.assertNoneLeft(t)
		})
	}
}

// UDP and unix sockets from --listen reach every generation: the worker
// finds them by address, and after an upgrade the new worker reads the same
// UDP socket and accepts on the same unix socket.
func TestUDPAndUnixListeners(t *testing.T) {
	udp := testserver.FreeUDPAddr(t)
	sock := filepath.Join(t.TempDir(), "app.sock")
	flags := append([]string{"--listen", "dns=udp://" + udp, "--listen", "sock=unix://" + sock}, fastFlags...)
	s := startSup(t, flags, bin.many, "-n", "1", "-addr", "ADDR", "-udp", udp, "-unix", sock)
	first := udpPID(t, udp)
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade: exit %d:\n%s", code, out)
	}
	// Wait for the old worker to be gone: until then both read the shared
	// UDP socket, and either may answer.
	st := s.waitState(func(st control.Status) bool {
		pids := servingPIDs(st)
		if len(pids) != 1 || pids[0] == first {
			return false
		}
		for _, g := range st.Generations {
			if g.State == "draining" {
				return false
			}
		}
		return true
	}, 10*time.Second, "a new worker serving, the old one gone")
	if got := udpPID(t, udp); got != servingPIDs(st)[0] {
		t.Errorf("UDP answered by pid %d, want the new worker %d", got, servingPIDs(st)[0])
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("unix socket after the upgrade: %v", err)
	}
	c.Close()
	s.stop(t)
	s.assertNoneLeft(t)
}

// udpPID asks the many test server which pid reads the UDP socket; the
// answer comes back from whichever worker read the datagram.
func udpPID(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("pid?")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("UDP read from %s: %v", addr, err)
	}
	pid, _ := strconv.Atoi(string(buf[:n]))
	return pid
}

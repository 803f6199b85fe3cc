//go:build linux

package handoff_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// Old generations never pile up, and the newest still wins (issue 10 item
// 3): with -max-draining 2 and a long slow request holding each of two
// older generations in its drain, the third upgrade is not refused: the
// oldest draining generation is retired (its slow request is cut: that is
// what retiring costs, and what the operator chose with the cap), the
// other keeps draining and finishes its request, and the upgrade runs.
func TestMaxDraining_RetiresTheOldestInsteadOfRefusing(t *testing.T) {
	s := startHello(t, "-max-draining", "2", "-probation", "100ms", "-drain-timeout", "60s", "-drain-idle", "1s")
	gen1 := s.cmd.Process.Pid
	slow1 := slowRequest(s.addr, 60000) // holds generation 1's drain
	waitServing(t, s.addr, gen1, slow1)
	gen2, status := s.upgrade(gen1)
	if gen2 == gen1 {
		t.Fatalf("upgrade 1: %s", status)
	}
	slow2 := slowRequest(s.addr, 6000) // holds generation 2's drain, not beyond the test
	waitServing(t, s.addr, gen2, slow2)
	gen3, status := s.upgrade(gen2)
	if gen3 == gen2 {
		t.Fatalf("upgrade 2: %s", status)
	}
	// Generations 1 and 2 drain: the cap is reached. Upgrade 3 retires 1.
	gen4, status := s.upgrade(gen3)
	if gen4 == gen3 || !strings.Contains(status, "serving") {
		t.Fatalf("upgrade 3 with 2 generations draining (max 2): MAINPID=%d STATUS=%q, want it to run", gen4, status)
	}
	s.waitLog("retired the oldest draining generation", 10*time.Second)
	if !strings.Contains(s.stderr.String(), "retired_pid="+strconv.Itoa(gen1)+" draining=2 max_draining=2 retired_total=1") {
		t.Errorf("the retirement log does not name generation 1 (pid %d):\n%s", gen1, s.stderr.String())
	}
	waitExit(t, gen1, 10*time.Second)
	r1 := <-slow1
	t.Logf("generation 1's slow request, cut by its retirement: %+v", r1)
	t.Logf("retirement, as the generations logged it:\n%s", grepLines(s.stderr.String(), "retire", "second stop signal"))
	if r := <-slow2; r.err != nil || r.pid != gen2 {
		t.Fatalf("generation 2's slow request (not retired): pid %d, err %v; want an answer from %d", r.pid, r.err, gen2)
	}
	waitExit(t, gen2, 30*time.Second)
	waitExit(t, gen3, 30*time.Second)
	if got := servedBy(t, s.addr); got != gen4 {
		t.Fatalf("served by %d, want %d", got, gen4)
	}
}

type slowResult struct {
	pid int
	err error
}

// slowRequest sends GET /slow?ms=ms on a connection of its own and
// reports who answered.
func slowRequest(addr string, ms int) chan slowResult {
	out := make(chan slowResult, 1)
	go func() {
		c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/slow?ms=" + strconv.Itoa(ms))
		if err != nil {
			out <- slowResult{err: err}
			return
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		pid, _ := strconv.Atoi(resp.Header.Get("X-Pid"))
		out <- slowResult{pid: pid, err: err}
	}()
	return out
}

// waitServing waits until pid holds an established TCP connection: the
// slow request (the only connection the test has open) was accepted there.
func waitServing(t *testing.T, addr string, pid int, slow chan slowResult) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if establishedTo(t, pid) > 0 {
			return
		}
		select {
		case r := <-slow:
			t.Fatalf("slow request ended early: %+v", r)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("pid %d never took the slow request", pid)
}

// establishedTo counts the established TCP sockets among pid's open files.
func establishedTo(t *testing.T, pid int) int {
	t.Helper()
	fds, err := testserver.FDs(pid)
	if err != nil {
		t.Fatalf("descriptors of pid %d: %v", pid, err)
	}
	inodes := map[string]bool{}
	for _, target := range fds {
		if ino, ok := testserver.SocketInode(target); ok {
			inodes[ino] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		for _, f := range testserver.NetTable(table) {
			// sl local remote st ... inode is the tenth field.
			if len(f) > 9 && f[3] == "01" && inodes[f[9]] {
				n++
			}
		}
	}
	return n
}

// grepLines returns the lines of s that contain any of words.
func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

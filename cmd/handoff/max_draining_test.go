//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/testserver"
)

// serverInode finds, in /proc/net/tcp, the inode of the server side of the
// connection whose client end is local (127.0.0.1:port): "" until the
// kernel has it.
func serverInode(local *net.TCPAddr) string {
	want := fmt.Sprintf("0100007F:%04X", local.Port)
	for _, f := range testserver.NetTable("tcp") {
		if len(f) > 9 && f[2] == want && f[9] != "0" {
			return f[9]
		}
	}
	return ""
}

// holds reports whether pid has the socket with inode open.
func holds(pid int, inode string) bool {
	fds, _ := testserver.FDs(pid)
	for _, target := range fds {
		if ino, ok := testserver.SocketInode(target); ok && ino == inode {
			return true
		}
	}
	return false
}

// slowRequest sends GET /slow?ms=N and returns a channel with the answer's
// status line, or the error that ended it. It returns once worker pid has
// accepted the connection, so the request is known to be its.
func slowRequest(t *testing.T, addr string, pid, ms int) <-chan string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /slow?ms=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", ms)
	out := make(chan string, 1)
	go func() {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("connection closed with no answer (EOF)")
			}
			out <- "error: " + err.Error()
			return
		}
		out <- strings.TrimSpace(line)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ino := serverInode(c.LocalAddr().(*net.TCPAddr)); ino != "" && holds(pid, ino) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %d never accepted the slow request", pid)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

// With --max-draining 2, a fifth generation is deployed although four
// older ones hold slow requests: the oldest draining generations are
// retired (killed, their requests cut, which the operator chose by the
// cap), the upgrades all succeed, and no more than 2 ever drain.
func TestMaxDrainingReached_OldestDrainingIsRetiredNotTheUpgradeRefused(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to see the worker accept")
	}
	s := startSup(t, []string{"-q", "--probation", "100ms", "--drain-timeout", "60s", "--max-draining", "2"},
		bin.hello, "-addr", "ADDR")
	var slow []<-chan string
	var outs []string
	for i := 0; i < 4; i++ {
		pid := onlyServingPID(t, s)
		slow = append(slow, slowRequest(t, s.addr, pid, 60000))
		out, code := s.upgrade(t)
		if code != control.ExitDone {
			t.Fatalf("upgrade %d: exit %d, want 0:\n%s", i+1, code, out)
		}
		outs = append(outs, out)
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		draining := 0
		for _, g := range st.Generations {
			if g.State == "draining" {
				draining++
			}
		}
		if want := min(i+1, 2); draining != want {
			t.Errorf("after upgrade %d: %d generations draining, want %d: %+v", i+1, draining, want, st.Generations)
		}
	}
	for i, want := range []bool{false, false, true, true} {
		if got := strings.Contains(outs[i], "retired"); got != want {
			t.Errorf("upgrade %d output mentions a retired generation: %v, want %v:\n%s", i+1, got, want, outs[i])
		}
	}
	// The slow requests of the two retired generations were cut; those of
	// the two still draining are in flight.
	for i := 0; i < 2; i++ {
		select {
		case r := <-slow[i]:
			if !strings.HasPrefix(r, "error") {
				t.Errorf("slow request %d on a retired generation: %q, want it cut", i+1, r)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("slow request %d on a retired generation still in flight", i+1)
		}
	}
	for i := 2; i < 4; i++ {
		select {
		case r := <-slow[i]:
			t.Errorf("slow request %d on a generation within the cap ended: %q", i+1, r)
		default:
		}
	}
	if !strings.Contains(s.stderr.String(), "retiring the oldest draining generation") {
		t.Errorf("the supervisor did not log the retirement:\n%s", s.stderr.String())
	}
	// Two TERMs: stop now, without waiting a minute for the slow requests.
	s.termTwice(t, 20*time.Second, "supervisor still running after two TERMs")
	s.assertNoneLeft(t)
}

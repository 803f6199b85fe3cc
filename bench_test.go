//go:build linux

package handoff_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/internal/sdnotify"
)

// BenchmarkUpgrade measures one self-upgrade of examples/hello: from the
// SIGHUP to the moment the new generation serves (the old one announces
// MAINPID=new, READY=1 right after the new one's READY=1). Compare with
// BenchmarkBareStart, the same binary's start-up to READY=1 with nothing to
// inherit: the difference is what handoff adds.
func BenchmarkUpgrade(b *testing.B) {
	benchUpgrades(b, startHello(b, "-probation", "1ms", "-drain-idle", "1ms"))
}

// benchUpgrades times b.N upgrades of s, from trigger to the new generation
// serving; waiting for the old one to exit is left out of the time.
func benchUpgrades(b *testing.B, s *server) {
	pid := s.cmd.Process.Pid
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next, status := s.upgrade(pid)
		if next == pid {
			b.Fatalf("upgrade %d failed: %s", i+1, status)
		}
		b.StopTimer()
		waitExit(b, pid, 60*time.Second)
		pid = next
		b.StartTimer()
	}
}

// BenchmarkBareStart starts hello from scratch (fresh socket, no parent)
// and waits for its READY=1.
func BenchmarkBareStart(b *testing.B) {
	exe := filepath.Join(buildBinaries(b), "hello")
	dir := b.TempDir()
	recv, err := sdnotify.Listen(filepath.Join(dir, "notify.sock"))
	if err != nil {
		b.Fatal(err)
	}
	defer recv.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(exe, "-addr", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+recv.Path())
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			d, err := recv.Receive()
			if err != nil {
				b.Fatal(err)
			}
			if v, _ := d.Msg.Get("READY"); v == "1" {
				break
			}
		}
		b.StopTimer()
		cmd.Process.Kill()
		cmd.Wait()
		b.StartTimer()
	}
}

// BenchmarkHandover upgrades a server that holds 1, 100 and 10,000
// listening sockets, all passed to every new generation.
func BenchmarkHandover(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			benchUpgrades(b, startServer(b, "many", "-n", strconv.Itoa(n)))
		})
	}
}

// BenchmarkAccept serves HTTP on a plain net.Listen listener and on a
// handoff listener, in the same run, with a new connection per request
// (the case that exercises Accept, the only place handoff sits in the data
// path). The two ns/op should be within noise of each other.
func BenchmarkAccept(b *testing.B) {
	run := func(b *testing.B, ln net.Listener) {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok\n")
		})}
		go srv.Serve(ln)
		defer srv.Close()
		addr := ln.Addr().String()
		req := []byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 512)
			for pb.Next() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				c.Write(req)
				r := bufio.NewReader(c)
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					b.Error(err)
					c.Close()
					return
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						break
					}
				}
				c.Close()
			}
		})
	}
	b.Run("net.Listen", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		run(b, ln)
	})
	b.Run("handoff", func(b *testing.B) {
		h, ln := listenWith(b, handoff.Options{NoSignals: true}, "127.0.0.1:0")
		h.Ready()
		run(b, ln)
	})
}

// BenchmarkMigrateIdleConns measures keep-alive migration: n idle
// keep-alive connections (each has served one request) move to the new
// generation at every upgrade. Reported: ms-migrate, from the start of the
// old generation's drain to the last connection handed over (what the
// old generation's log says), and ms-old-exit, from the SIGHUP to the old
// generation's exit. Afterwards every connection must still answer, from
// the last generation.
func BenchmarkMigrateIdleConns(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchMigrate(b, n) })
	}
}

var migrateLine = regexp.MustCompile(`msg="handoff: migrate: keep-alive connections" pid=(\d+) migrated=(\d+) fell_back=(\d+) took=(\S+)`)

func benchMigrate(b *testing.B, n int) {
	s := startHello(b, "-probation", "1ms", "-drain-idle", "1ms")
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	for i := range conns {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
		conns[i], readers[i] = c, bufio.NewReader(c)
		if pid := askPID(b, c, readers[i]); pid != s.cmd.Process.Pid {
			b.Fatalf("connection %d answered by %d", i, pid)
		}
	}
	pid := s.cmd.Process.Pid
	var migrate, exit time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		next, status := s.upgrade(pid)
		if next == pid {
			b.Fatalf("upgrade %d failed: %s", i+1, status)
		}
		waitExit(b, pid, 60*time.Second)
		exit += time.Since(start)
		s.waitLog(fmt.Sprintf(`msg="handoff: migrate: keep-alive connections" pid=%d `, pid), 10*time.Second)
		for _, m := range migrateLine.FindAllStringSubmatch(s.stderr.String(), -1) {
			if m[1] != strconv.Itoa(pid) {
				continue
			}
			if m[2] != strconv.Itoa(n) || m[3] != "0" {
				b.Fatalf("upgrade %d: migrated %s, fell back %s, want %d and 0", i+1, m[2], m[3], n)
			}
			d, err := time.ParseDuration(m[4])
			if err != nil {
				b.Fatal(err)
			}
			migrate += d
		}
		pid = next
	}
	b.StopTimer()
	b.ReportMetric(float64(migrate.Milliseconds())/float64(b.N), "ms-migrate")
	b.ReportMetric(float64(exit.Milliseconds())/float64(b.N), "ms-old-exit")
	for i, c := range conns {
		if got := askPID(b, c, readers[i]); got != pid {
			b.Fatalf("connection %d answered by %d after the upgrades, want %d", i, got, pid)
		}
	}
}

// askPID sends one keep-alive request on c and returns the pid that answered.
func askPID(b *testing.B, c net.Conn, br *bufio.Reader) int {
	b.Helper()
	pid, _ := strconv.Atoi(roundTrip(b, c, br).Header.Get("X-Pid"))
	return pid
}

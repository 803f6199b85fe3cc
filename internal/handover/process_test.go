//go:build unix

package handover

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// envChild makes the test binary play a part in another process instead
// of running the tests.
const envChild = "HANDOVER_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "receiver":
		os.Exit(childReceiver())
	case "clients":
		os.Exit(childClients())
	}
	goleak.VerifyTestMain(m)
}

// childReceiver is the new generation: it dials the channel named in
// EnvSocket, accepting only its parent, and answers one request line on
// every connection it receives with its own pid.
func childReceiver() int {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	r, err := Dial(ctx, os.Getenv(EnvSocket), Peer{PID: os.Getppid()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	defer r.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for {
		it, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 3
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer it.Conn.Close()
			it.Conn.SetDeadline(time.Now().Add(testTimeout))
			if err := serve(it, "pid="+strconv.Itoa(os.Getpid())); err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
			io.Copy(io.Discard, it.Conn) // until the client hangs up
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		fmt.Fprintln(os.Stderr, "child:", err)
		return 4
	default:
	}
	return 0
}

// childClients dials N TCP connections to ADDR, says "ready" and holds
// them until its stdin closes: the client ends of a benchmark live here so
// that the parent's descriptor limit holds only the server ends.
func childClients() int {
	n, _ := strconv.Atoi(os.Getenv("HANDOVER_TEST_N"))
	addr := os.Getenv("HANDOVER_TEST_ADDR")
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			fmt.Fprintln(os.Stderr, "clients:", err)
			return 2
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return 0
}

// startChild runs this test binary as the given child, stops it at the
// end of the test and reports what it wrote to stderr if it failed.
func startChild(t testing.TB, part string, env []string, attr *syscall.SysProcAttr) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(testBinary(t), "-test.run=^$")
	cmd.Env = append(append(os.Environ(), envChild+"="+part), env...)
	cmd.SysProcAttr = attr
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

func testBinary(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// waitChild waits for the child, bounded, and kills it past the bound.
func waitChild(t testing.TB, cmd *exec.Cmd, stderr *bytes.Buffer) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("child pid %d: %v; stderr:\n%s", cmd.Process.Pid, err, stderr)
		}
		return nil
	case <-time.After(testTimeout):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("child pid %d did not exit within %v; stderr:\n%s", cmd.Process.Pid, testTimeout, stderr)
	}
}

func TestCrossProcess_ChildReceivesConnectionsAndAnswersOnThem(t *testing.T) {
	checkFDs(t)
	const n = 300 // more than one frame
	clients, servers := tcpPairs(t, n)
	conns := make([]Conn, n)
	for i, c := range clients {
		fmt.Fprintf(c, "first%03d,", i)
		buf := make([]byte, len("first000,"))
		if _, err := io.ReadFull(servers[i], buf); err != nil {
			t.Fatal(err)
		}
		conns[i] = Conn{Socket: servers[i], Buffered: buf, Meta: []byte(strconv.Itoa(i))}
	}

	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd, stderr := startChild(t, "receiver", []string{EnvSocket + "=" + ln.Path()}, nil)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	s, err := ln.Accept(ctx, Peer{PID: cmd.Process.Pid})
	if err != nil {
		cmd.Process.Kill()
		waitChild(t, cmd, stderr)
		t.Fatal(err)
	}
	defer s.Close()
	if sent, err := s.SendConns(ctx, conns); err != nil || sent != n {
		t.Fatalf("SendConns: %d sent, %v", sent, err)
	}
	for i, c := range clients {
		if got := peek(t, c); got != "nothing" {
			t.Fatalf("client %d sees %s after the old generation let go", i, got)
		}
	}
	finished := make(chan error, 1)
	go func() { finished <- s.Finish(ctx) }()

	want := "pid=" + strconv.Itoa(cmd.Process.Pid)
	br := make([]*bufio.Reader, n)
	for i, c := range clients {
		c.SetDeadline(time.Now().Add(testTimeout))
		fmt.Fprintf(c, "second%03d\n", i)
		br[i] = bufio.NewReader(c)
	}
	for i := range clients {
		line, err := br[i].ReadString('\n')
		if err != nil {
			t.Fatalf("client %d: %v (child stderr: %s)", i, err, stderr)
		}
		if exp := fmt.Sprintf("%s meta=%d line=first%03d,second%03d\n", want, i, i, i); line != exp {
			t.Fatalf("client %d: got %q, want %q", i, line, exp)
		}
	}
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.Close()
	}
	if err := waitChild(t, cmd, stderr); err != nil {
		t.Fatal(err)
	}
}

// As root, a child switched to another uid reaches the socket once the
// test opens the directory's mode bits, and the credential check alone
// refuses it, on both sides.
func TestCrossProcess_OtherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a process under another uid")
	}
	checkFDs(t)
	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Open the fences that the credential check stands behind, and give
	// the other user a copy of the test binary it may execute.
	os.Chmod(filepath.Dir(ln.Path()), 0o777)
	os.Chmod(ln.Path(), 0o666)
	dir, err := os.MkdirTemp("", "handover-exe-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "handover.test")
	data, err := os.ReadFile(testBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=receiver", EnvSocket+"="+ln.Path())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, err = ln.Accept(testCtx(t), Peer{})
	wantErr(t, err, ErrPeer, "the peer runs as uid 65534, this process as uid 0")
	if err := waitChild(t, cmd, &stderr); err == nil || !strings.Contains(stderr.String(), "uid") {
		t.Fatalf("the child was not refused: %v", err)
	} else {
		t.Logf("the child says: %s", strings.TrimSpace(stderr.String()))
	}
}

func TestCrossProcess_WrongPIDRefused(t *testing.T) {
	checkFDs(t)
	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testCtx(t)
	dialed := make(chan error, 1)
	go func() {
		r, err := Dial(ctx, ln.Path(), Peer{})
		if err == nil {
			r.Close()
		}
		dialed <- err
	}()
	_, err = ln.Accept(ctx, Peer{PID: os.Getpid() + 100000})
	wantErr(t, err, ErrPeer, fmt.Sprintf("the peer is pid %d, expected pid %d", os.Getpid(), os.Getpid()+100000))
	derr := <-dialed
	wantErr(t, derr, ErrAborted, "expected pid")
	if !errors.Is(derr, ErrAborted) {
		t.Fatal(derr)
	}
}

// A supervised worker accepts only a descendant of its supervisor: a peer
// that does not descend from the expected pid is refused; one whose parent
// or grandparent it is, is accepted.
func TestAccept_ChecksThePeersAncestor(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent is checked on Linux only")
	}
	for _, tc := range []struct {
		parent int
		ok     bool
	}{{os.Getppid(), true}, {grandparent(t), true}, {os.Getpid(), false}, {os.Getpid() + 100000, false}} {
		ln, err := Listen("")
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t)
		dialed := make(chan error, 1)
		go func() {
			r, err := Dial(ctx, ln.Path(), Peer{})
			if err == nil {
				r.Close()
			}
			dialed <- err
		}()
		s, err := ln.Accept(ctx, Peer{Ancestor: tc.parent})
		if tc.ok {
			if err != nil {
				t.Fatalf("parent %d: %v", tc.parent, err)
			}
			s.Close()
		} else {
			wantErr(t, err, ErrPeer, fmt.Sprintf("does not descend from pid %d", tc.parent))
		}
		<-dialed
		ln.Close()
	}
}

func grandparent(t *testing.T) int {
	pid, ok := parentOf(os.Getppid())
	if !ok {
		t.Fatal("no /proc entry for the parent")
	}
	return pid
}

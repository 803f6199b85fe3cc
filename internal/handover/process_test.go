//go:build unix

package handover

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

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

	ln := listen(t)
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
	ln := listen(t)
	// Open the fences that the credential check stands behind, and give
	// the other user a copy of the test binary it may execute.
	os.Chmod(filepath.Dir(ln.Path()), 0o777)
	os.Chmod(ln.Path(), 0o666)
	_, exe := testserver.CopyForNobody(t, "handover.test")
	cmd, stderr := startChildExe(t, exe, "receiver", []string{EnvSocket + "=" + ln.Path()}, testserver.AsNobody())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, err := ln.Accept(testCtx(t), Peer{})
	wantErr(t, err, ErrPeer, "the peer runs as uid 65534, this process as uid 0")
	if err := waitChild(t, cmd, stderr); err == nil || !strings.Contains(stderr.String(), "uid") {
		t.Fatalf("the child was not refused: %v", err)
	} else {
		t.Logf("the child says: %s", strings.TrimSpace(stderr.String()))
	}
}

func TestCrossProcess_WrongPIDRefused(t *testing.T) {
	checkFDs(t)
	ln := listen(t)
	ctx := testCtx(t)
	dialed := dialAway(ctx, ln.Path())
	_, err := ln.Accept(ctx, Peer{PID: os.Getpid() + 100000})
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
		ln := listen(t)
		ctx := testCtx(t)
		dialed := dialAway(ctx, ln.Path())
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

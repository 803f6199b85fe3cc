//go:build unix

package handover

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
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
	return startChildExe(t, testBinary(t), part, env, attr)
}

// startChildExe is startChild with exe, a copy of this test binary.
func startChildExe(t testing.TB, exe, part string, env []string, attr *syscall.SysProcAttr) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(exe, "-test.run=^$")
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

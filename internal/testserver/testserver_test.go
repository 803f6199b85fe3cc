//go:build linux

package testserver

import (
	"context"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// A binary is built once per test binary, by name; asking for the same
// name with other flags is refused rather than silently shared.
func TestBinary_BuiltOncePerName(t *testing.T) {
	a := Build(t, "../../examples/hello")
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	b := BuildAs(t, "hello", "../../examples/hello")
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || !os.SameFile(fa, fb) || !fa.ModTime().Equal(fb.ModTime()) {
		t.Fatalf("built twice: %s, %s", a, b)
	}
	if _, err := Binary("hello", "../../examples/hello", "-tags", "other"); err == nil {
		t.Fatal("hello with other flags: no error")
	}
}

// PIDs kills what it holds at cleanup, by pid; a pid marked gone is left
// alone.
func TestPIDs_KilledAtCleanup(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Run("holder", func(t *testing.T) { NewPIDs(t).Add(cmd.Process.Pid) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("pid still running after the holder's cleanup")
	}
}

func TestWaitExit_ProcessNotOurChild(t *testing.T) {
	// sh starts sleep in the background and exits: sleep is not ours.
	out, err := exec.Command("sh", "-c", "sleep 0.5 >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, c := range string(out) {
		if c >= '0' && c <= '9' {
			pid = pid*10 + int(c-'0')
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := WaitExit(ctx, pid); err != nil {
		t.Fatal(err)
	}
}

func TestFreeAddr_NothingListens(t *testing.T) {
	if c, err := net.DialTimeout("tcp", FreeAddr(t), time.Second); err == nil {
		c.Close()
		t.Fatal("something listens on the free address")
	}
	if FreePort(t) <= 0 || FreeUDPAddr(t) == "" {
		t.Fatal("no port")
	}
}

func TestSyncBuffer_ConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				b.Write([]byte("x"))
			}
		}()
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Fatalf("%d bytes, want 800", n)
	}
}

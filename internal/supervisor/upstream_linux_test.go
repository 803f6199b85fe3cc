package supervisor

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// A service manager that never reads its socket must not stall the loop:
// send returns at once even when the socket's queue is full, and the
// datagrams that cannot go are dropped after a bounded wait.
func TestUpstream_FullSocketNeverBlocksTheSender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "systemd.sock")
	recv, err := sdnotify.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close() // never read
	// Fill its queue from a non-blocking socket until the kernel refuses.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	filled := 0
	for ; filled < 100000; filled++ {
		if err := unix.Send(fd, []byte("STATUS=filler"), 0); err != nil {
			break
		}
	}
	t.Logf("queue full after %d datagrams", filled)

	t.Setenv("NOTIFY_SOCKET", path)
	u := newUpstream(slog.New(slog.DiscardHandler))
	start := time.Now()
	for i := 0; i < 2*upstreamQueue; i++ {
		u.send("STATUS=upgrading", "EXTEND_TIMEOUT_USEC=1")
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("%d sends to a full socket took %v: the sender blocked", 2*upstreamQueue, took)
	}
	done := make(chan struct{})
	go func() { u.flush(2 * sendTimeout); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("flush did not give up on a socket nobody reads")
	}
}

//go:build unix

package launch

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/spawn"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func needSystemdNotify(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("systemd-notify not installed")
	}
	return bin
}

// listenNotify opens a private notify socket closed at the end of the test.
func listenNotify(t *testing.T) *Notify {
	t.Helper()
	n, err := ListenNotify("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// start spawns a child, keeping its last stderr lines, and kills it (by
// its pid) at the end of the test.
func start(t *testing.T, c spawn.Config) *spawn.Process {
	t.Helper()
	c.Stderr, c.TailLines = io.Discard, 10
	p, err := spawn.Start(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// waitFor returns what ch delivers, failing the test if the child exits
// first or nothing comes within 10 s. The child's last stderr lines (spawn
// keeps them: Config.TailLines) say why.
func waitFor(t *testing.T, ch <-chan error, p *spawn.Process) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-p.Done():
		// It may have sent READY=1 just before exiting.
		select {
		case err := <-ch:
			return err
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("child exited before it was ready: %s", p.Describe())
	case <-time.After(10 * time.Second):
		t.Fatalf("no READY=1 within 10s; stderr:\n%s", p.Tail())
	}
	return errors.New("unreachable")
}

func environ(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := bytes.Cut([]byte(kv), []byte("="))
		m[string(k)] = string(v)
	}
	return m
}

// sendReady sends READY=1 to socket from this process.
func sendReady(socket string) error {
	msg, err := sdnotify.Format("READY=1")
	if err != nil {
		return err
	}
	return sdnotify.Send(socket, msg)
}

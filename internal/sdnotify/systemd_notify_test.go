//go:build unix

package sdnotify

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// runSystemdNotify runs the real systemd-notify against r. Without
// --no-block it sends a barrier fd and waits up to 5 s for it to close, so a
// quick exit proves Receive released it.
func runSystemdNotify(t *testing.T, r *Receiver, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("systemd-notify not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+r.Path())
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-notify %q: %v\n%s", args, err, out)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("systemd-notify took %v; barrier fd not released promptly", el)
	}
}

func TestSystemdNotify(t *testing.T) {
	r := listen(t)
	ch := serve(t, r)
	runSystemdNotify(t, r, "--ready", "--status=hi")

	d := next(t, ch)
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	if v, _ := d.Msg.Get("READY"); v != "1" {
		t.Errorf("READY = %q; message %q", v, d.Msg.Bytes())
	}
	if v, _ := d.Msg.Get("STATUS"); v != "hi" {
		t.Errorf("STATUS = %q; message %q", v, d.Msg.Bytes())
	}
	if runtime.GOOS == "linux" && d.PID <= 0 {
		t.Errorf("PID = %d, want the sender's pid from SO_PASSCRED", d.PID)
	}
	b := next(t, ch)
	if v, _ := b.Msg.Get("BARRIER"); v != "1" || b.FDs != 1 {
		t.Errorf("barrier datagram = %+v", b)
	}
}

func TestSystemdNotifyMainPID(t *testing.T) {
	r := listen(t)
	ch := serve(t, r)
	pid := strconv.Itoa(os.Getpid())
	runSystemdNotify(t, r, "--pid="+pid, "EXTEND_TIMEOUT_USEC=5000000")

	d := next(t, ch)
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	if v, _ := d.Msg.Get("MAINPID"); v != pid {
		t.Errorf("MAINPID = %q, want %s; message %q", v, pid, d.Msg.Bytes())
	}
	if v, _ := d.Msg.Get("EXTEND_TIMEOUT_USEC"); v != "5000000" {
		t.Errorf("EXTEND_TIMEOUT_USEC = %q; message %q", v, d.Msg.Bytes())
	}
}

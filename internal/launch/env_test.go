//go:build unix

package launch

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/spawn"
)

// What the parent was told itself must never reach its child: its own
// fds, its notify socket, its predecessor.
func TestCommand_DropsTheParentsOwnProtocolVariables(t *testing.T) {
	base := []string{"PATH=/bin", "LISTEN_FDS=9", "LISTEN_PID=1", "LISTEN_FDNAMES=x", "NOTIFY_SOCKET=/parent.sock",
		"WATCHDOG_USEC=1", "WATCHDOG_PID=1", proto.EnvHandover + "=/old.sock", proto.EnvDraining + "=5", "HANDOFF_ANYTHING=1", "KEEP=me"}
	_, env, err := Child{Env: base, Program: "/srv/app", Adopt: true, Generation: 2}.Command()
	if err != nil {
		t.Fatal(err)
	}
	got := environ(env)
	want := map[string]string{
		"PATH": "/bin", "KEEP": "me", "LISTEN_FDS": "0", "LISTEN_FDNAMES": "",
		proto.EnvAdoptFDs: "1", proto.EnvProtocol: strconv.Itoa(proto.Version), proto.EnvGeneration: "2",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("environment has %d variables, want %d: %q", len(got), len(want), env)
	}
}

func TestCommand_EveryField(t *testing.T) {
	c := Child{
		Env: []string{"A=b"}, Program: "/srv/app", Generation: 7,
		Names: []string{"http", "admin"}, Notify: "/run/n.sock", PassStderr: true,
		Upstream: "/run/systemd/notify", Supervisor: 42, Control: "/run/ctl.sock",
		Draining: []int{10, 11}, Handover: Handover{Path: "/run/h.sock", PID: 10, State: true},
		Watchdog: 3 * time.Second,
	}
	path, env, err := c.Command()
	if err != nil {
		t.Fatal(err)
	}
	if path != ShimPath() {
		t.Errorf("path = %q: a program that does not adopt its fds must go through the shim %q", path, ShimPath())
	}
	got := environ(env)
	for k, v := range map[string]string{
		"A": "b", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:admin", proto.EnvShimExec: "/srv/app",
		"NOTIFY_SOCKET": "/run/n.sock", proto.EnvStderrFD: "5", proto.EnvUpstreamNotify: "/run/systemd/notify",
		proto.EnvSupervisor: "42", proto.EnvControl: "/run/ctl.sock", proto.EnvDraining: "10,11",
		proto.EnvHandover: "/run/h.sock", proto.EnvHandoverPID: "10", proto.EnvState: "1",
		"WATCHDOG_USEC": "3000000", proto.EnvGeneration: "7",
	} {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"LISTEN_PID", proto.EnvAdoptFDs, "WATCHDOG_PID"} {
		if v, ok := got[k]; ok {
			t.Errorf("%s=%q set; the parent cannot know the child's pid", k, v)
		}
	}
}

func TestCommand_RefusesABadName(t *testing.T) {
	_, _, err := Child{Program: "/srv/app", Names: []string{"a:b"}}.Command()
	if !errors.Is(err, activation.ErrBadName) {
		t.Fatalf("err = %v, want activation.ErrBadName", err)
	}
}

func TestOrder_SortsByDescriptorAndFitsNames(t *testing.T) {
	socks := []Socket{{9, "b"}, {4, "a"}, {7, "c"}}
	fds, names := Order(socks)
	if strings.Join(names, ",") != "a,c,b" || fds[0] != 4 || fds[1] != 7 || fds[2] != 9 {
		t.Fatalf("Order = %v %v", fds, names)
	}
	if socks[0].FD != 9 {
		t.Fatal("Order changed its argument")
	}
	// Thousands of long names do not fit in one environment string:
	// inet ones shrink, the others are kept.
	many := make([]string, 5000)
	for i := range many {
		many[i] = "tcp-127.0.0.1-" + strconv.Itoa(10000+i) + "-a-long-name"
	}
	many[0] = "unix-/run/app.sock"
	_, env, err := Child{Program: "/srv/app", Names: many}.Command()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(environ(env)["LISTEN_FDNAMES"], ":")
	if len(got) != len(many) || got[0] != many[0] || got[1] != "inet" {
		t.Fatalf("LISTEN_FDNAMES has %d names, first %q, second %q", len(got), got[0], got[1])
	}
}

// The whole parent side against a real child: the sockets (here one end
// of a socketpair) arrive at 3..,
// the parent's stderr where HANDOFF_STDERR_FD says, and the child's
// READY=1 (sent by the real systemd-notify, exec'd so that it keeps the
// child's pid; --pid=$$ because it otherwise claims its parent's pid in
// the credentials, which root may) is what WaitReady reports.
func TestChildReportsReady_EndToEnd(t *testing.T) {
	notify := needSystemdNotify(t)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Close-on-exec, as every descriptor the parent does not mean to pass:
	// spawn places the one it passes itself (SOCK_CLOEXEC is not on darwin).
	unix.CloseOnExec(pair[0])
	unix.CloseOnExec(pair[1])
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	fd := pair[0]

	n := listenNotify(t)
	fds, names := Order([]Socket{{fd, "http"}})
	path, env, err := Child{Env: os.Environ(), Program: "/bin/sh", Adopt: true, Generation: 2,
		Names: names, Notify: n.Path(), PassStderr: true}.Command()
	if err != nil {
		t.Fatal(err)
	}
	script := `test "$LISTEN_FDS" = 1 && test "$LISTEN_FDNAMES" = http && test -S /dev/fd/3 || { echo "no socket at fd 3" >&2; exit 3; }
test -w /dev/fd/$HANDOFF_STDERR_FD || { echo "no stderr at $HANDOFF_STDERR_FD" >&2; exit 4; }
exec ` + notify + ` --pid=$$ --ready "STATUS=generation $HANDOFF_GENERATION" X_HANDOFF_PROTOCOL=1`
	p := start(t, spawn.Config{Path: path, Args: []string{"sh", "-c", script}, Env: env, Files: fds, PassStderr: true})
	if err := waitFor(t, n.WaitReady(p.Pid, quietLog()), p); err != nil {
		t.Fatalf("WaitReady = %v; stderr:\n%s", err, p.Tail())
	}
}

// A child that announces a protocol version this build does not speak is
// never taken for ready; a READY=1 from another process (here, the test
// itself) does not count for the child.
func TestWaitReady_UnknownVersionIsAnError_OthersIgnored(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux vouches for a datagram's sender")
	}
	notify := needSystemdNotify(t)
	n := listenNotify(t)
	// The child waits for a line on its fd 3, which the test writes after
	// sending its own READY=1: datagrams arrive in order.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	rfd, err := unix.FcntlInt(r.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rfd)
	p := start(t, spawn.Config{Path: "/bin/sh",
		Args:  []string{"sh", "-c", "read go <&3; exec " + notify + " --pid=$$ --ready X_HANDOFF_PROTOCOL=2"},
		Env:   []string{"NOTIFY_SOCKET=" + n.Path(), "PATH=/usr/bin:/bin"},
		Files: []int{rfd}})
	ch := n.WaitReady(p.Pid, quietLog())
	if err := sendReady(n.Path()); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("go\n"))
	err = waitFor(t, ch, p)
	if !errors.Is(err, proto.ErrVersion) {
		t.Fatalf("WaitReady = %v, want proto.ErrVersion (the test's own READY=1 must not count)", err)
	}
}

func TestWaitReady_ClosedSocket(t *testing.T) {
	n := listenNotify(t)
	ch := n.WaitReady(os.Getpid()+1, quietLog())
	n.Close()
	select {
	case err := <-ch:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("WaitReady after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitReady did not return after Close")
	}
	if _, err := os.Stat(n.dir); !os.IsNotExist(err) {
		t.Fatalf("Close left the notify directory %s: %v", n.dir, err)
	}
}

//go:build linux

package systemdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Systemd is the path of the service manager booted.
const Systemd = "/lib/systemd/systemd"

// RealTmp is the directory systemd-tmpfiles would empty.
const RealTmp = "/tmp"

// masked are units that must never run in a test boot: they write to the
// machine's file systems (tmpfiles empties /tmp), start logins or touch
// global kernel state. The boot target pulls in none of them; masking them
// too keeps a unit that forgets DefaultDependencies=no from starting them.
var masked = []string{
	"systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service",
	"systemd-tmpfiles-clean.timer", "systemd-tmpfiles-clean.service",
	"systemd-logind.service", "getty.target", "console-getty.service",
	"systemd-journal-flush.service", "systemd-random-seed.service",
	"systemd-update-utmp.service", "systemd-sysusers.service",
	"systemd-sysctl.service", "systemd-binfmt.service", "systemd-remount-fs.service",
	"systemd-udevd.service", "systemd-udev-trigger.service", "systemd-firstboot.service",
	"systemd-machine-id-commit.service", "ldconfig.service", "systemd-hwdb-update.service",
	"systemd-journal-catalog-update.service", "systemd-update-done.service",
	"systemd-modules-load.service", "systemd-pstore.service", "systemd-timesyncd.service",
	"nginx.service", "apache2.service", "postgresql.service", "mysql.service", "cron.service",
	"timers.target",
}

// target is what systemd boots into: nothing.
const target = "handoff-test.target"

// bootScript runs as PID 1 of the new namespaces, then becomes systemd.
// $1 is the test's directory, $2 the unit names to mask.
const bootScript = `set -e
dir=$1; shift
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/handoff-keep
mount --bind "$dir" /run/handoff-keep
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
mkdir -p "$dir"
mount --bind /run/handoff-keep "$dir"
umount /run/handoff-keep
rmdir /run/handoff-keep
mkdir -p /run/systemd/system
for u in "$@"; do ln -sf /dev/null "/run/systemd/system/$u"; done
printf '[Unit]\nDescription=handoff test boot\n' >/run/systemd/system/` + target + `
exec ` + Systemd + ` --system --unit=` + target + `
`

// System is a booted systemd.
type System struct {
	// PID is systemd's pid as seen from the test (PID 1 inside).
	PID int
	// Dir is the test's directory, visible at the same path inside.
	Dir string

	t       testing.TB
	unshare *exec.Cmd
	exited  chan struct{}
	out     bytes.Buffer
	canary  string
}

// Available says why a real systemd cannot be booted here, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("not root: unshare of pid/mount/net namespaces needs it")
	}
	if _, err := os.Stat(Systemd); err != nil {
		return fmt.Errorf("no systemd: %w", err)
	}
	for _, tool := range []string{"unshare", "nsenter", "ip", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed", tool)
		}
	}
	return nil
}

// Boot boots systemd in fresh namespaces and waits (bounded by ctx) until
// it has finished starting up, with loopback up. It skips the test with a
// message when systemd or namespaces are not available, and registers a
// cleanup that kills the namespace by pid.
func Boot(t testing.TB, ctx context.Context) *System {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("systemdtest: cannot boot a real systemd: %v", err)
	}
	s := &System{t: t, Dir: t.TempDir(), exited: make(chan struct{})}
	s.plantCanary()
	args := []string{"--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--cgroup",
		"--mount-proc", "--propagation", "private", "sh", "-c", bootScript, "boot", s.Dir}
	args = append(args, maskedUnits()...)
	s.unshare = exec.Command("unshare", args...)
	s.unshare.Stdout, s.unshare.Stderr = &s.out, &s.out
	// systemd as PID 1 reads nothing useful from here, and a NOTIFY_SOCKET
	// or LISTEN_FDS of the test's own must not leak into it.
	s.unshare.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	if err := s.unshare.Start(); err != nil {
		t.Skipf("systemdtest: unshare: %v", err)
	}
	go func() { s.unshare.Wait(); close(s.exited) }()
	t.Cleanup(s.shutdown)

	pid, err := s.childPID(ctx)
	if err != nil {
		if strings.Contains(s.output(), "Operation not permitted") {
			t.Skipf("systemdtest: namespaces not permitted here: %s", s.output())
		}
		t.Fatalf("systemdtest: boot: %v\n%s", err, s.output())
	}
	s.PID = pid
	if err := s.waitRunning(ctx); err != nil {
		t.Fatalf("systemdtest: boot: %v\n%s", err, s.output())
	}
	if out, err := s.Exec(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("systemdtest: loopback: %v\n%s", err, out)
	}
	s.checkCanary("after boot")
	return s
}

func (s *System) output() string {
	select {
	case <-s.exited:
		return s.out.String()
	default:
		return "(still running)"
	}
}

// maskedUnits is the fixed list plus every unit the machine enables, which
// is where installed daemons (nginx, postgresql, ...) are wanted from.
func maskedUnits() []string {
	seen := map[string]bool{}
	var out []string
	add := func(u string) {
		if !seen[u] && !strings.Contains(u, "/") {
			seen[u] = true
			out = append(out, u)
		}
	}
	for _, u := range masked {
		add(u)
	}
	for _, dir := range []string{"/etc/systemd/system", "/lib/systemd/system"} {
		wants, _ := filepath.Glob(filepath.Join(dir, "*.wants", "*"))
		for _, w := range wants {
			u := filepath.Base(w)
			if strings.HasSuffix(u, ".service") || strings.HasSuffix(u, ".timer") {
				add(u)
			}
		}
	}
	return out
}

// childPID finds the process unshare forked: it becomes systemd.
func (s *System) childPID(ctx context.Context) (int, error) {
	p := s.unshare.Process.Pid
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p, p))
		if f := strings.Fields(string(b)); len(f) > 0 {
			return strconv.Atoi(f[0])
		}
		select {
		case <-s.exited:
			return 0, fmt.Errorf("unshare exited: %v", s.unshare.ProcessState)
		case <-ctx.Done():
			return 0, fmt.Errorf("no child of unshare %d: %w", p, ctx.Err())
		case <-tick.C:
		}
	}
}

// waitRunning waits until systemd's bus answers and the start-up job is
// done (running or degraded).
func (s *System) waitRunning(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Before systemd has its private bus, systemctl says "offline"
		// at once; once it has, --wait blocks until start-up ends.
		out, _ := s.Exec(ctx, "systemctl", "is-system-running", "--wait")
		switch state := strings.TrimSpace(string(out)); state {
		case "running", "degraded":
			return nil
		case "maintenance", "stopping":
			return fmt.Errorf("systemd is %s", state)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("systemd exited: %v", s.unshare.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("systemd not running: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Exec runs a command inside every namespace of the booted system.
func (s *System) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(s.PID), "-a", name}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	return cmd.CombinedOutput()
}

// Systemctl runs systemctl inside, bounded by a minute, and fails the test
// if it fails.
func (s *System) Systemctl(args ...string) string {
	s.t.Helper()
	out, err := s.TrySystemctl(args...)
	if err != nil {
		s.t.Fatalf("systemctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TrySystemctl runs systemctl inside, bounded by a minute.
func (s *System) TrySystemctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.Exec(ctx, "systemctl", append([]string{"--no-pager"}, args...)...)
	return string(out), err
}

// Install writes a unit into the booted system's /run/systemd/system and
// reloads systemd.
func (s *System) Install(name, content string) {
	s.t.Helper()
	src := filepath.Join(s.Dir, "units", name)
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := s.Exec(ctx, "cp", src, "/run/systemd/system/"+name); err != nil {
		s.t.Fatalf("install %s: %v\n%s", name, err, out)
	}
	s.Systemctl("daemon-reload")
}

// Show returns one property of a unit (systemctl show -p NAME --value).
func (s *System) Show(unit, property string) string {
	s.t.Helper()
	return strings.TrimSpace(s.Systemctl("show", "-p", property, "--value", unit))
}

// MainPID is the unit's main pid inside the namespace (0: none).
func (s *System) MainPID(unit string) int {
	s.t.Helper()
	n, _ := strconv.Atoi(s.Show(unit, "MainPID"))
	return n
}

// Dial connects from the test to an address inside the booted system's
// network namespace. The socket is created on a thread that has entered
// that namespace; it stays there after the thread leaves.
func (s *System) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		c, err, restored := s.dialInside(ctx, network, addr)
		if restored {
			// Only a thread back in the test's namespace may run other
			// goroutines; otherwise it dies with this one.
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

func (s *System) dialInside(ctx context.Context, network, addr string) (c net.Conn, err error, restored bool) {
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return nil, err, true
	}
	defer self.Close()
	inside, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", s.PID))
	if err != nil {
		return nil, err, true
	}
	defer inside.Close()
	if err := unix.Setns(int(inside.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns: %w", err), true
	}
	var d net.Dialer
	c, err = d.DialContext(ctx, network, addr)
	return c, err, unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil
}

// plantCanary puts a file in the real /tmp that a systemd-tmpfiles run
// would delete.
func (s *System) plantCanary() {
	f, err := os.CreateTemp(RealTmp, "handoff-systemdtest-canary-*")
	if err != nil {
		s.t.Fatalf("systemdtest: canary in %s: %v", RealTmp, err)
	}
	f.WriteString("if this file is gone, a test's systemd emptied the real /tmp\n")
	f.Close()
	s.canary = f.Name()
}

func (s *System) checkCanary(when string) {
	if _, err := os.Stat(s.canary); err != nil {
		s.t.Errorf("systemdtest: THE REAL %s WAS EMPTIED %s (canary %s: %v): the booted systemd ran on the machine's own /tmp", RealTmp, when, s.canary, err)
	}
}

// shutdown kills systemd by pid (the namespace and every process in it die
// with their PID 1), waits for unshare, and checks the canary.
func (s *System) shutdown() {
	if s.PID > 0 {
		syscall.Kill(s.PID, syscall.SIGKILL)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.unshare.Process.Kill()
		<-s.exited
	}
	s.checkCanary("at cleanup")
	os.Remove(s.canary)
}

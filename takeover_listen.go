//go:build !windows

package handoff

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/proto"
)

// takeoverSocket is this process's part in the takeover socket path
// (Options.Takeover): the lock beside it while this process takes over or
// starts first, the listener it serves takeovers on, and, for a newcomer,
// nothing more (the channel it received on is the predecessor's).
//
// The path always names a listener while a generation serves: each new
// one binds a temporary name in the same directory and rename(2)s it over
// the path, which replaces the old socket file atomically. A process that
// was replaced keeps its listening socket open but unreachable, and never
// unlinks the path at Stop unless the file there is still the one it
// created (by inode).
type takeoverSocket struct {
	path string
	log  *slog.Logger

	mu   sync.Mutex
	lock *os.File          // the flock on path+".lock", while held
	ln   *net.UnixListener // the listener this process created; nil when none
	ino  uint64            // the inode of the socket file it created
}

// checkTakeoverDir refuses a directory another user could plant a socket
// in, or reach ours through: it must be a directory of our uid with no
// permission for group or others. Mode bits do not stop root; the peer's
// uid, checked by the kernel on both ends, does.
func checkTakeoverDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("takeover socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("takeover socket directory %s: not a directory", dir)
	}
	if err := ownedPrivate(fi, dir); err != nil {
		return fmt.Errorf("takeover socket directory %s: %w (want mode 0700, owned by this uid)", dir, err)
	}
	return nil
}

// ownedPrivate refuses a file of another uid, or one that group or others
// may use.
func ownedPrivate(fi fs.FileInfo, name string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", name)
	}
	if me := os.Getuid(); int(st.Uid) != me {
		return fmt.Errorf("belongs to uid %d, this process runs as uid %d", st.Uid, me)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("has mode %#o", perm)
	}
	return nil
}

// checkTakeoverFile refuses, before connecting, a path that is not a
// socket of our uid with mode 0600 (or stricter).
func checkTakeoverFile(fi fs.FileInfo, path string) error {
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("takeover socket %s: not a socket (%s)", path, fi.Mode().Type())
	}
	if err := ownedPrivate(fi, path); err != nil {
		return fmt.Errorf("takeover socket %s: %w (want mode 0600, owned by this uid)", path, err)
	}
	return nil
}

// acquire takes the exclusive lock beside the path without waiting:
// another holder is taking over right now (ErrTakeoverBusy). The lock file
// is never removed: unlinking a lock file races with the next locker.
func (t *takeoverSocket) acquire() error {
	f, err := os.OpenFile(t.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%w: lock: %w", ErrTakeover, err)
	}
	// Fd on a regular file: no socket's blocking mode is at stake.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w (%s.lock is held)", ErrTakeoverBusy, t.path)
		}
		return fmt.Errorf("%w: lock %s.lock: %w", ErrTakeover, t.path, err)
	}
	t.mu.Lock()
	t.lock = f
	t.mu.Unlock()
	return nil
}

// release drops the lock, if held.
func (t *takeoverSocket) release() {
	t.mu.Lock()
	f := t.lock
	t.lock = nil
	t.mu.Unlock()
	if f != nil {
		f.Close() // closing the last descriptor releases the flock
	}
}

// listen binds a fresh listener at a temporary name beside the path and
// renames it over the path, so that someone listens there at every moment:
// the previous holder until the rename, this process after it. A listener
// this process had before is closed (its file is gone already). A
// directory that fails checkTakeoverDir is refused: the caller logs it and
// serves on without takeovers.
func (t *takeoverSocket) listen() (*net.UnixListener, error) {
	if err := checkTakeoverDir(t.path); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(t.path), ".takeover-"+strconv.Itoa(os.Getpid()))
	os.Remove(tmp) // ours, from an earlier attempt of this process
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("takeover socket: listen: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the path may be a successor's by then
	fail := func(err error) (*net.UnixListener, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("takeover socket: %w", err)
	}
	// The directory is 0700: nobody else can reach tmp before the chmod.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(tmp)
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return fail(err)
	}
	t.mu.Lock()
	old := t.ln
	t.ln = ln
	t.ino = fi.Sys().(*syscall.Stat_t).Ino
	t.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return ln, nil
}

// close stops serving takeovers at Stop. The path is removed only when the
// process is the last (not superseded) and the file is still its own.
func (t *takeoverSocket) close(superseded bool) {
	t.release()
	t.mu.Lock()
	ln, ino := t.ln, t.ino
	t.ln = nil
	t.mu.Unlock()
	if ln == nil {
		return
	}
	ln.Close()
	if superseded {
		return
	}
	if fi, err := os.Lstat(t.path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino == ino {
			os.Remove(t.path)
		}
	}
}

// takeoverEnv gives a child this generation starts the takeover path in
// the environment: launch removes every HANDOFF_ variable a parent was
// given, and the child, the same program, may read it only from there.
func (c *chain) takeoverEnv(env []string) []string {
	if c.tk == nil {
		return env
	}
	return append(env, proto.EnvTakeover+"="+c.tk.path)
}

// reclaimTakeover, at a rollback, takes the path back from the new
// generation that died holding it.
func (c *chain) reclaimTakeover() {
	if c.tk == nil {
		return
	}
	c.tk.mu.Lock()
	serving := c.tk.ln != nil
	c.tk.mu.Unlock()
	if !serving {
		return
	}
	if err := c.serveTakeover(); err != nil {
		c.log.Error("handoff: takeover: could not take the socket path back after the rollback: no takeover until the next generation", "path", c.tk.path, "err", err)
	}
}

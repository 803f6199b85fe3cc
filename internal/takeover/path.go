//go:build !windows

package takeover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/handover"
)

// ErrBusy is Acquire's error when another process holds the lock.
var ErrBusy = errors.New("takeover: another process holds the lock")

// Path is this process's part in a takeover path: the lock, while held,
// and the listener it created there, if any. Its methods are safe for
// concurrent use.
type Path struct {
	path string

	mu   sync.Mutex
	lock *os.File          // the flock on path+".lock", while held
	ln   *net.UnixListener // the listener this process created; nil when none
	ino  uint64            // the inode of the socket file it created
}

// New returns the Path for path; nothing is touched yet.
func New(path string) *Path { return &Path{path: path} }

// String is the path.
func (p *Path) String() string { return p.path }

// CheckDir refuses a directory for path that another user could plant a
// socket in or reach ours through: it must be a directory of our uid with
// no permission for group or others.
func CheckDir(path string) error {
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

// checkFile refuses, before connecting, a path that is not a socket of our
// uid with mode 0600 (or stricter).
func checkFile(fi fs.FileInfo, path string) error {
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("takeover socket %s: not a socket (%s)", path, fi.Mode().Type())
	}
	if err := ownedPrivate(fi, path); err != nil {
		return fmt.Errorf("takeover socket %s: %w (want mode 0600, owned by this uid)", path, err)
	}
	return nil
}

// Acquire takes the exclusive lock beside the path without waiting:
// ErrBusy when another process holds it.
func (p *Path) Acquire() error {
	f, err := os.OpenFile(p.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("takeover: lock: %w", err)
	}
	// Fd on a regular file: no socket's blocking mode is at stake.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s.lock", ErrBusy, p.path)
		}
		return fmt.Errorf("takeover: lock %s.lock: %w", p.path, err)
	}
	p.mu.Lock()
	p.lock = f
	p.mu.Unlock()
	return nil
}

// Release drops the lock, if held.
func (p *Path) Release() {
	p.mu.Lock()
	f := p.lock
	p.lock = nil
	p.mu.Unlock()
	if f != nil {
		f.Close() // closing the last descriptor releases the flock
	}
}

// Found says what Dial found at the path.
type Found int

const (
	Nobody  Found = iota // no socket file: nobody served there yet
	Stale                // a socket file nobody listens on: its process is gone
	Serving              // a serving process answered; the channel is up
)

// Dial connects to the process serving at the path, after checking the
// directory and the socket file, and opens the handover channel (the
// kernel checks the peer's uid). Nobody and Stale come with a nil
// Receiver and no error: the caller starts first, and its Listen replaces
// a stale file.
func (p *Path) Dial(ctx context.Context) (*handover.Receiver, Found, error) {
	if err := CheckDir(p.path); err != nil {
		return nil, Nobody, err
	}
	fi, err := os.Lstat(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Nobody, nil
	}
	if err == nil {
		err = checkFile(fi, p.path)
	}
	if err != nil {
		return nil, Nobody, err
	}
	r, err := handover.Dial(ctx, p.path, handover.Peer{})
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, Stale, nil
	}
	if err != nil {
		return nil, Nobody, fmt.Errorf("connect to the serving process at %s: %w", p.path, err)
	}
	return r, Serving, nil
}

// Alive tells whether a process listens at the path.
func (p *Path) Alive() bool {
	c, err := net.Dial("unix", p.path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Listen binds a fresh listener at a temporary name beside the path and
// renames it over the path, so that someone listens there at every moment:
// the previous holder until the rename, this process after it. A listener
// this process had before is closed (its file is gone already). A
// directory that fails CheckDir is refused.
func (p *Path) Listen() (*net.UnixListener, error) {
	if err := CheckDir(p.path); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(p.path), ".takeover-"+strconv.Itoa(os.Getpid()))
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
	if err := os.Rename(tmp, p.path); err != nil {
		return fail(err)
	}
	p.mu.Lock()
	old := p.ln
	p.ln = ln
	p.ino = fi.Sys().(*syscall.Stat_t).Ino
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return ln, nil
}

// DupListener returns a duplicate of this process's listener at the path
// (close-on-exec; the caller owns it) and the inode of the socket file it
// created, for a process that re-executes itself in place and serves on
// at the path (Adopt in the new image). fd is -1 when it listens on none.
func (p *Path) DupListener() (fd int, ino uint64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return -1, 0, nil
	}
	rc, err := p.ln.SyscallConn()
	if err != nil {
		return -1, 0, fmt.Errorf("takeover socket: %w", err)
	}
	var dupErr error
	// Inside Control: Fd() would switch the socket to blocking mode.
	if err := rc.Control(func(f uintptr) { fd, dupErr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 3) }); err != nil {
		return -1, 0, fmt.Errorf("takeover socket: %w", err)
	}
	if dupErr != nil {
		return -1, 0, fmt.Errorf("takeover socket: dup: %w", dupErr)
	}
	return fd, p.ino, nil
}

// Adopt makes fd, the listener a previous image of this process created
// at the path (DupListener), this Path's, with the inode of the file it
// created: Close then removes the path only if it is still that file. fd
// is taken over (closed on failure) and made close-on-exec.
func (p *Path) Adopt(fd int, ino uint64) (*net.UnixListener, error) {
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), p.path)
	ln, err := net.FileListener(f)
	f.Close() // FileListener dups it
	if err != nil {
		return nil, fmt.Errorf("takeover socket: adopt fd %d: %w", fd, err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("takeover socket: adopt fd %d: not a unix listener", fd)
	}
	ul.SetUnlinkOnClose(false) // the path may be a successor's by then
	p.mu.Lock()
	old := p.ln
	p.ln, p.ino = ul, ino
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return ul, nil
}

// Listening reports whether this process created a listener at the path
// (it may have been replaced since).
func (p *Path) Listening() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ln != nil
}

// Close releases the lock and closes this process's listener. The path is
// removed only when nobody took over (superseded false) and the file
// there is still the one this process created.
func (p *Path) Close(superseded bool) {
	p.Release()
	p.mu.Lock()
	ln, ino := p.ln, p.ino
	p.ln = nil
	p.mu.Unlock()
	if ln == nil {
		return
	}
	ln.Close()
	if superseded {
		return
	}
	if fi, err := os.Lstat(p.path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino == ino {
			os.Remove(p.path)
		}
	}
}

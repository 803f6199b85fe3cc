package supervisor

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// heldFile keeps an executable open so its bytes can be started again
// through /proc/<supervisor pid>/fd/N, even after a deploy replaced or
// deleted the file. The descriptor is close-on-exec: workers never see it;
// the shim opens the path in our /proc entry.
type heldFile struct {
	f    *os.File
	path string // what the shim execs, or "" when the descriptor cannot be used
	link string // directory holding the named link, removed by close
}

// hold opens path. A worker exec'd through /proc/<pid>/fd/N would be
// named "N" by the kernel (its comm, what ps and top show, is the last
// element of the path given to execve): so the shim is given a symlink
// named as the program, in a directory of its own under dir, that points
// at the descriptor; exec follows it to the same bytes.
func hold(path, dir string) (heldFile, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return heldFile{}, err
	}
	h := heldFile{f: f}
	// A script runs by its path: the kernel hands the interpreter the name
	// it was exec'd by as $0, and scripts that look at $0 (pyenv shims,
	// multi-call wrappers) would see "/proc/.../fd/7". The interpreter
	// reads the script by name anyway, so holding it buys nothing.
	var magic [2]byte
	if n, _ := f.ReadAt(magic[:], 0); n == 2 && string(magic[:]) == "#!" {
		return h, nil
	}
	// Fd() is harmless here: a regular file has no blocking mode to flip.
	proc := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.FormatUint(uint64(f.Fd()), 10)
	// A /proc mounted for another pid namespace (a container that did not
	// remount it) would name another process's fd: use the path then.
	if a, err := os.Stat(proc); err == nil {
		if b, err := f.Stat(); err == nil && os.SameFile(a, b) {
			h.path = proc
		}
	}
	if h.path != "" && dir != "" {
		if d, err := os.MkdirTemp(dir, "exe-*"); err == nil {
			link := filepath.Join(d, filepath.Base(path))
			if os.Symlink(h.path, link) == nil {
				h.path, h.link = link, d
			} else {
				os.Remove(d)
			}
		}
	}
	return h, nil
}

func (h heldFile) target() string { return h.path }

func (h heldFile) close() {
	if h.f != nil {
		h.f.Close()
	}
	if h.link != "" {
		os.RemoveAll(h.link)
	}
}

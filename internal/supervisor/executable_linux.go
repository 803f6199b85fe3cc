package supervisor

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// heldFile keeps an executable open so its bytes can be started again
// through /proc/<supervisor pid>/fd/N, even after a deploy replaced or
// deleted the file. The descriptor is close-on-exec: workers never see it;
// the shim opens the path in our /proc entry.
type heldFile struct {
	f    *os.File
	path string // /proc/<pid>/fd/<n>, or "" when it cannot be used
}

func hold(path string) (heldFile, error) {
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
	return h, nil
}

func (h heldFile) target() string { return h.path }

func (h heldFile) close() {
	if h.f != nil {
		h.f.Close()
	}
}

package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ErrInUse is returned by Listen when another live supervisor answers on
// the path.
var ErrInUse = errors.New("control socket in use")

// Listen creates the control socket at path. The parent directory is
// created with mode 0700 when missing; the default directory (Dir) must
// moreover pass PrivateDir's checks. The socket file is made 0600. A socket
// file left behind by a supervisor that died is replaced; one that still
// answers makes Listen fail with ErrInUse, so two supervisors never fight
// over one path.
//
// Mode bits are only the first fence: between bind and chmod the umask
// decides, and root ignores them. The server checks every peer's
// credentials as well (see Serve).
func Listen(path string) (*net.UnixListener, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if dir == Dir() {
		if err := PrivateDir(dir); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", abs, err)
	}
	if _, err := os.Lstat(abs); err == nil {
		c, err := net.DialTimeout("unix", abs, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control: listen %s: %w by another supervisor (pass another --control)", abs, ErrInUse)
		}
		// Nobody answers: a leftover of a supervisor that was killed.
		if err := os.Remove(abs); err != nil {
			return nil, fmt.Errorf("control: listen %s: remove stale socket: %w", abs, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: abs, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listen %s: %w", abs, err)
	}
	if err := os.Chmod(abs, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: listen %s: chmod: %w", abs, err)
	}
	return ln, nil
}

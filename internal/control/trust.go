package control

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// ErrUntrusted reports a control socket that another user could have put
// in place: its directory is not ours (or root's) or others may write to
// it, or the process that listens on it runs as another uid. A client never
// trusts an answer from such a socket: a fake supervisor could report an
// upgrade that never happened.
var ErrUntrusted = errors.New("untrusted control socket")

// checkDir refuses a directory that another user could have created, or
// may add sockets to or rename them in: it must be a real directory (not a
// symlink) owned by this uid or by root, writable by its owner only. A
// private directory (the default one, Dir) must moreover be owned by this
// uid and give group and others no access at all (0700), as PrivateDir
// makes it.
func checkDir(dir string, private bool) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory (a symlink may point anywhere)", ErrUntrusted, dir)
	}
	me := os.Getuid()
	if uid, ok := fileOwner(fi); ok && uid != me && (private || uid != 0) {
		return fmt.Errorf("%w: %s belongs to uid %d, not to this user (%d)", ErrUntrusted, dir, uid, me)
	}
	perm := fi.Mode().Perm()
	if private && perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %v; it must be reachable only by its owner (chmod 700)", ErrUntrusted, dir, perm)
	}
	if perm&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v: other users may replace the socket in it (chmod go-w)", ErrUntrusted, dir, perm)
	}
	return nil
}

// checkServer refuses a connection whose listening end runs as another uid
// than this process, unless it is root (which may read and replace anything
// of ours anyway). The kernel reports the credentials the server had when
// it called listen(2): a peer cannot lie about them.
func checkServer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("%w: not a unix socket", ErrUntrusted)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	uid, credErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { uid, credErr = peerUID(int(fd)) }); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return fmt.Errorf("%w: cannot read the server's credentials: %v", ErrUntrusted, credErr)
	}
	if me := os.Getuid(); uid != me && uid != 0 {
		return fmt.Errorf("%w: it is served by uid %d, not by this user (%d) nor root", ErrUntrusted, uid, me)
	}
	return nil
}

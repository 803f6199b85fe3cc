package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Dir returns the directory for control sockets when none is given:
// $XDG_RUNTIME_DIR/handoff if XDG_RUNTIME_DIR is set, else
// /tmp/handoff-<uid>. It does not create it (see PrivateDir).
func Dir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "handoff")
	}
	return filepath.Join(os.TempDir(), "handoff-"+strconv.Itoa(os.Getuid()))
}

// DefaultPath is the control socket of a supervisor of program when
// --control is not given: Dir()/<base name of program>.sock.
func DefaultPath(program string) string {
	base := filepath.Base(program)
	if base == "." || base == "/" || base == "" {
		base = "handoff"
	}
	return filepath.Join(Dir(), base+".sock")
}

// ErrNoSupervisor is returned by Find when no control socket exists in Dir.
var ErrNoSupervisor = errors.New("no handoff supervisor found")

// Find returns the control socket to use when a client was given no
// --control: the only *.sock in Dir(). With none it returns
// ErrNoSupervisor; with several it lists them, since guessing which
// supervisor to upgrade would be worse than asking. It trusts Dir() only if
// PrivateDir would (a real directory of this uid, mode 0700): otherwise it
// returns ErrUntrusted naming the directory and its owner or mode, since in
// a shared /tmp another user may have created it first and put a fake
// supervisor's socket in it.
func Find() (string, error) {
	dir := Dir()
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w in %s: pass --control SOCK (printed by handoff run at start)", ErrNoSupervisor, dir)
	}
	if err := checkDir(dir, true); err != nil {
		return "", fmt.Errorf("control: find a supervisor: %w", err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.sock"))
	sort.Strings(matches)
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("%w in %s: pass --control SOCK (printed by handoff run at start)", ErrNoSupervisor, dir)
	case 1:
		return matches[0], nil
	}
	return "", fmt.Errorf("several supervisors in %s, pass --control with one of: %s", dir, strings.Join(matches, ", "))
}

// PrivateDir creates dir (and its parents) if needed and checks that it is
// a real directory owned by this uid and reachable by nobody else (mode
// 0700 or stricter). It refuses anything else (ErrUntrusted) rather than
// fixing it: in a shared /tmp, a directory somebody else created first is
// an attack, and a symlink may point anywhere.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("control: create %s: %w", dir, err)
	}
	if err := checkDir(dir, true); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return nil
}

// Package activation speaks systemd's socket-activation protocol: the
// LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES variables, fds from 3.
//
// The receiving side is coreos/go-systemd's activation package; this package
// adds what it lacks: the sending side, names validated the way systemd
// validates them, and the LISTEN_PID shim (shim.go).
package activation

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// FirstFD is the first passed descriptor (SD_LISTEN_FDS_START).
const FirstFD = 3

// MaxNameLen is the longest fd name systemd accepts (FDNAME_MAX).
const MaxNameLen = 255

// ErrBadName reports an fd name systemd would refuse.
var ErrBadName = errors.New("invalid fd name")

// ValidName reports whether name is a valid LISTEN_FDNAMES entry: 1 to 255
// printable ASCII characters other than ':' (the separator).
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q: length must be 1 to %d", ErrBadName, name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f || c == ':' {
			return fmt.Errorf("%w: %q: character %q at %d", ErrBadName, name, c, i)
		}
	}
	return nil
}

// Env returns the variables that pass len(names) fds, placed at 3, 4, ... in
// the child. pid is the receiving process; 0 leaves LISTEN_PID out, for a shim
// that sets it after fork (see Shim).
func Env(names []string, pid int) ([]string, error) {
	for _, n := range names {
		if err := ValidName(n); err != nil {
			return nil, err
		}
	}
	env := []string{
		"LISTEN_FDS=" + strconv.Itoa(len(names)),
		"LISTEN_FDNAMES=" + strings.Join(names, ":"),
	}
	if pid > 0 {
		env = append(env, "LISTEN_PID="+strconv.Itoa(pid))
	}
	return env, nil
}

// protocolVars are the variables a child must never inherit from its parent's
// own environment: they describe the parent's fds and sockets, not the child's.
var protocolVars = []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"}

// Clean returns env without the socket-activation and notify variables and
// without any variable whose name starts with one of extraPrefixes.
func Clean(env []string, extraPrefixes ...string) []string {
	out := make([]string, 0, len(env))
next:
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		for _, v := range protocolVars {
			if name == v {
				continue next
			}
		}
		for _, p := range extraPrefixes {
			if strings.HasPrefix(name, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// Mismatch explains why fds announced in the environment are not for this
// process, or returns nil when they are (or none are announced). libsystemd,
// go-systemd and Python's systemd.daemon all silently ignore fds whose
// LISTEN_PID is not their own pid; saying so turns a puzzling "address already
// in use" into a clear message.
func Mismatch() error {
	fds := os.Getenv("LISTEN_FDS")
	if fds == "" {
		return nil
	}
	pid := os.Getenv("LISTEN_PID")
	if pid == strconv.Itoa(os.Getpid()) {
		return nil
	}
	return fmt.Errorf("LISTEN_FDS=%s ignored: LISTEN_PID=%q is not this process (%d)", fds, pid, os.Getpid())
}

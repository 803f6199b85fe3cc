package activation

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Passed is one descriptor received by socket activation.
type Passed struct {
	FD   int
	Name string // from LISTEN_FDNAMES; "unknown" when none was given, as systemd names it
}

// MaxFDs bounds LISTEN_FDS so a corrupt value cannot make us walk millions of
// descriptors.
const MaxFDs = 1 << 16

// ErrNotForUs reports fds announced for another process: LISTEN_PID differs
// from ours. Like libsystemd, the caller must then ignore them.
var ErrNotForUs = errors.New("LISTEN_PID is not this process")

// Parse interprets the values of LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES
// for the process self. An empty LISTEN_FDS means nothing was passed.
// LISTEN_PID must be present and equal self: an absent or different one
// returns ErrNotForUs, and the caller must leave the fds alone, as libsystemd
// and go-systemd do. (LISTEN_FDS inherited without LISTEN_PID is the
// environment of some other process: adopting fds 3.. then would take, and
// later close, descriptors this process opened itself.) Fewer names than fds
// leaves the rest "unknown"; more names than fds is an error, since it means
// the two variables disagree.
//
// Parse only reads the variables: before using or closing a descriptor, the
// caller checks that it is what it was announced as (Check).
func Parse(fds, pid, names string, self int) ([]Passed, error) {
	if fds == "" {
		return nil, nil
	}
	// Whose fds they are comes first: another process's environment is
	// left alone whatever it holds, as libsystemd does.
	if pid == "" {
		return nil, fmt.Errorf("%w: LISTEN_FDS=%.20s without LISTEN_PID, this process is %d", ErrNotForUs, fds, self)
	}
	p, err := strconv.Atoi(pid)
	if err != nil || p <= 0 {
		return nil, fmt.Errorf("LISTEN_PID=%q: not a pid", pid)
	}
	if p != self {
		return nil, fmt.Errorf("%w: LISTEN_PID=%d, this process is %d", ErrNotForUs, p, self)
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 || n > MaxFDs {
		return nil, fmt.Errorf("LISTEN_FDS=%q: want a count from 0 to %d", fds, MaxFDs)
	}
	var list []string
	if names != "" {
		list = strings.Split(names, ":")
	}
	if len(list) > n {
		return nil, fmt.Errorf("LISTEN_FDNAMES has %d names for LISTEN_FDS=%d", len(list), n)
	}
	out := make([]Passed, n)
	for i := range out {
		out[i] = Passed{FD: FirstFD + i, Name: "unknown"}
		if i < len(list) && list[i] != "" {
			out[i].Name = list[i]
		}
	}
	return out, nil
}

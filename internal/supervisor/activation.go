//go:build unix

package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/sockets"
)

// activationVars are what an activator (systemd, a .socket unit, its fd
// store, systemd-socket-activate) tells the supervisor.
var activationVars = []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"}

// adoptInherited takes the sockets passed to this process by socket
// activation (LISTEN_FDS for our own LISTEN_PID) and matches each to a
// --listen entry: by name first (a FileDescriptorName= of a socket unit,
// or the FDNAME= this supervisor stored them under in systemd's fd store),
// then by address (a socket unit's ListenStream= equal to the --listen
// URL). It returns the sockets by the index of the spec they serve; specs
// without one are bound as usual.
//
// An inherited descriptor that is not a socket, is not what the process
// was given (activation.Check), or matches no entry is an error: serving
// silently on fewer sockets than the activator holds, or leaving one
// nobody accepts from, would queue connections forever. LISTEN_FDS meant
// for another process (LISTEN_PID differs) is left alone, as libsystemd
// does. Either way the variables are removed from the environment.
func adoptInherited(specs []ListenSpec, log *slog.Logger) (map[int]*boundSocket, error) {
	fds, pid, names := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDNAMES")
	for _, v := range activationVars {
		os.Unsetenv(v)
	}
	passed, err := activation.Parse(fds, pid, names, os.Getpid())
	if errors.Is(err, activation.ErrNotForUs) {
		log.Warn("handoff: ignoring inherited sockets", "err", err)
		return nil, nil
	}
	if err != nil {
		return nil, configError("socket activation: %v", err)
	}
	if len(passed) == 0 {
		return nil, nil
	}
	type candidate struct {
		activation.Inherited
		desc sockets.Desc
	}
	cands := make([]candidate, 0, len(passed))
	for _, p := range passed {
		// Check before close-on-exec is set: it is how Check tells a passed
		// descriptor from one this process opened itself.
		in, err := activation.Check(p)
		if err != nil {
			return nil, configError("socket activation: %v", err)
		}
		d, err := sockets.Describe(p.FD)
		if err != nil || !in.Socket || !d.IsSocket() {
			return nil, configError("socket activation: fd %d (%s) is not a socket the supervisor can serve on", p.FD, p.Name)
		}
		cands = append(cands, candidate{in, d})
	}
	// From here on every passed fd is ours: none may leak into workers
	// beyond the copy each is given explicitly.
	for _, c := range cands {
		unix.CloseOnExec(c.FD)
	}
	claimed := make([]int, len(specs)) // 1 + index into cands, 0: none
	byName := func(c candidate) int {
		for i, spec := range specs {
			if claimed[i] == 0 && spec.Name == c.Name && sameKind(c.desc, spec) {
				return i
			}
		}
		return -1
	}
	byAddress := func(c candidate) int {
		for i, spec := range specs {
			if claimed[i] == 0 && sockets.Match(c.desc, spec.Network, spec.Address) {
				return i
			}
		}
		return -1
	}
	matched := make([]bool, len(cands))
	for _, match := range []func(candidate) int{byName, byAddress} {
		for j, c := range cands {
			if matched[j] {
				continue
			}
			if i := match(c); i >= 0 {
				claimed[i], matched[j] = j+1, true
			}
		}
	}
	var unmatched []string
	for j, c := range cands {
		if !matched[j] {
			unmatched = append(unmatched, fmt.Sprintf("fd %d %s (%s)", c.FD, c.Name, c.desc))
		}
	}
	if len(unmatched) > 0 {
		for _, c := range cands {
			if c.Same() {
				unix.Close(c.FD)
			}
		}
		return nil, configError("socket activation: %s matches no --listen by name or address (a socket unit's FileDescriptorName= or address, "+
			"or a socket left in systemd's fd store by an earlier --listen: `systemctl stop` empties the store)", strings.Join(unmatched, ", "))
	}
	out := make(map[int]*boundSocket)
	for i, j := range claimed {
		if j == 0 {
			continue
		}
		c := cands[j-1]
		b := inheritedSocket(specs[i], c.FD, c.desc)
		if !sockets.Match(c.desc, specs[i].Network, specs[i].Address) {
			// The activator decides where its sockets listen; say so,
			// since the --listen URL is then only a name.
			log.Warn("handoff: inherited socket listens elsewhere than its --listen says", "name", specs[i].Name, "listen", specs[i].String(), "inherited", c.desc.String())
		}
		log.Info("handoff: socket passed by the service manager", "socket", b.String(), "fd", c.FD, "passed_as", c.Name)
		out[i] = b
	}
	return out, nil
}

// sameKind reports whether an inherited socket can serve spec at all: a
// stream socket for tcp/unix, a datagram one for udp/unixgram, of the same
// family.
func sameKind(d sockets.Desc, spec ListenSpec) bool {
	inet := d.Family == unix.AF_INET || d.Family == unix.AF_INET6
	switch spec.Network {
	case "tcp", "tcp4", "tcp6":
		return inet && d.Type == unix.SOCK_STREAM
	case "udp", "udp4", "udp6":
		return inet && d.Type == unix.SOCK_DGRAM
	case "unix":
		return d.Family == unix.AF_UNIX && d.Type == unix.SOCK_STREAM
	case "unixgram":
		return d.Family == unix.AF_UNIX && d.Type == unix.SOCK_DGRAM
	}
	return false
}

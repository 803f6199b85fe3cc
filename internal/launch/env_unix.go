//go:build unix

package launch

import (
	"fmt"
	"strconv"
	"time"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/proto"
)

// Child is everything a parent tells a new generation through its
// environment. The zero value of each optional field leaves its variable
// out.
type Child struct {
	// Env is the environment to start from (os.Environ(), or a configured
	// one). Every protocol variable is removed from it first: LISTEN_*,
	// NOTIFY_SOCKET, WATCHDOG_* and every HANDOFF_* variable, so nothing
	// the parent was told itself (its own fds, its own predecessor) reaches
	// the child.
	Env []string
	// Program is the executable the child runs.
	Program string
	// Adopt says Program is a handoff program that takes its fds although
	// LISTEN_PID is absent (proto.EnvAdoptFDs): it is exec'd directly.
	// Otherwise the child is started as the shim (ShimPath), which sets
	// LISTEN_PID to its own pid and execs Program, keeping the pid.
	Adopt bool
	// Generation is the child's generation number (proto.EnvGeneration).
	Generation int
	// Names name the descriptors passed at 3, 4, ..., in that order
	// (LISTEN_FDS, LISTEN_FDNAMES). Each must be a valid fd name
	// (activation.ValidName). When all of them would not fit in one
	// environment string, inet names are shortened (see Order).
	Names []string
	// Notify is the child's NOTIFY_SOCKET, normally a Notify's Path.
	Notify string
	// PassStderr says the parent's real stderr follows the sockets, as
	// spawn.Config.PassStderr places it: proto.EnvStderrFD names it.
	PassStderr bool
	// Upstream is the service manager's NOTIFY_SOCKET, kept for the child
	// in proto.EnvUpstreamNotify while NOTIFY_SOCKET points at the parent.
	Upstream string
	// Supervisor is the pid of a supervisor that started the child
	// (proto.EnvSupervisor); Control is its control socket.
	Supervisor int
	Control    string
	// Draining lists older generations that may still drain
	// (proto.EnvDraining).
	Draining []int
	// Handover introduces the child to the process whose handover channel
	// it is to connect to.
	Handover Handover
	// SuccessorByUID tells a supervised child that its handover socket may
	// accept a successor of its uid that does not descend from its
	// supervisor (proto.EnvHandoverPeer=proto.HandoverPeerUID): set by a
	// supervisor that can be taken over.
	SuccessorByUID bool
	// Watchdog, when positive, is passed as WATCHDOG_USEC. No WATCHDOG_PID:
	// it would have to be the child's pid, unknown before fork, and
	// sd_watchdog_enabled accepts its absence.
	Watchdog time.Duration
}

// Handover names a predecessor's handover socket (package
// internal/handover). The zero value introduces nobody.
type Handover struct {
	Path  string // proto.EnvHandover
	PID   int    // proto.EnvHandoverPID: the only peer the child accepts there
	State bool   // proto.EnvState=1: the peer will send a state blob
}

// Command returns the executable to start and the child's environment.
// It fails only for a name activation.ValidName refuses; nothing is
// started then.
func (c Child) Command() (path string, env []string, err error) {
	act, err := activation.Env(fitNames(c.Names), 0) // LISTEN_PID: the shim's, or the child's own
	if err != nil {
		return "", nil, fmt.Errorf("launch: child environment: %w", err)
	}
	env = activation.Clean(c.Env, proto.Prefix)
	env = append(env, act...)
	path = c.Program
	if c.Adopt {
		env = append(env, proto.EnvAdoptFDs+"=1")
	} else {
		path = ShimPath()
		env = append(env, activation.ShimEnv(c.Program))
	}
	env = append(env,
		proto.EnvProtocol+"="+strconv.Itoa(proto.Version),
		proto.EnvGeneration+"="+strconv.Itoa(c.Generation),
	)
	add := func(name, value string) {
		if value != "" {
			env = append(env, name+"="+value)
		}
	}
	add("NOTIFY_SOCKET", c.Notify)
	if c.PassStderr {
		add(proto.EnvStderrFD, strconv.Itoa(activation.FirstFD+len(c.Names)))
	}
	add(proto.EnvUpstreamNotify, c.Upstream)
	if c.Supervisor > 0 {
		add(proto.EnvSupervisor, strconv.Itoa(c.Supervisor))
	}
	add(proto.EnvControl, c.Control)
	add(proto.EnvDraining, proto.FormatPIDs(c.Draining))
	if h := c.Handover; h.Path != "" {
		add(proto.EnvHandover, h.Path)
		add(proto.EnvHandoverPID, strconv.Itoa(h.PID))
		if h.State {
			add(proto.EnvState, "1")
		}
	}
	if c.SuccessorByUID {
		add(proto.EnvHandoverPeer, proto.HandoverPeerUID)
	}
	if c.Watchdog > 0 {
		add("WATCHDOG_USEC", strconv.FormatInt(c.Watchdog.Microseconds(), 10))
	}
	return path, env, nil
}

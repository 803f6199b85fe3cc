//go:build !windows

package handoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/sockets"
	"github.com/handoff-go/handoff/internal/takeover"
)

// chain is the Unix links of a Handoff (links.go): what the parent passed
// in the environment, and the two ends of the handover channel, each with
// its own state and lock: pred (predecessor.go) receives from the
// generation before this one, succ (successor.go) offers this generation's
// channel to the one after it. Upgrades (upgrade.go) start that one.
type chain struct {
	h   *Handoff
	log *slog.Logger

	gen  int
	exe  string   // the upgrade's executable, resolved at New
	args []string // ... and its arguments

	// Where readiness and status go. notify is NOTIFY_SOCKET as we found it:
	// an upgrading parent's, the supervisor's or systemd's. upstream is
	// systemd's socket when notify is a handoff parent's.
	notify        string
	upstream      string
	fromParent    bool // started by a self-upgrading handoff parent
	isSupervised  bool
	supervisorPID int   // the supervisor's pid, when supervised
	ancestors     []int // older generations that may still be draining
	// successorByUID: the supervisor can be taken over, so this worker's
	// handover socket accepts a successor of its uid whatever its
	// parents (proto.EnvHandoverPeer; successor.go).
	successorByUID bool

	inh  *inheritance
	pred *predecessor // nil: no predecessor offered a channel
	succ *successor

	tk     *takeover.Path     // Options.Takeover; nil when off (takeover_join.go)
	joined *handover.Receiver // the channel this newcomer took over on (takeover_join.go)

	queue   upgradeQueue // the running upgrade and its follow-up (trigger.go)
	retired atomic.Int64 // draining generations retired at MaxDraining (retire.go)

	stderrMu sync.Mutex
	stderrFD int // parent's real stderr, to move onto fd 2 at Ready; -1 if none
}

// openLinks reads the environment the parent left (see New).
func openLinks(h *Handoff) (links, error) {
	c := &chain{h: h, log: h.log, gen: 1, stderrFD: -1, inh: &inheritance{log: h.log}}
	c.succ = &successor{h: h, c: c}
	h.stats.forward = c.succ.forwardCounters // metrics_handover.go
	note, err := c.readEnv()
	if err == nil {
		err = c.resolveCommand()
	}
	if err == nil {
		err = c.joinTakeover()
	}
	if err != nil {
		c.inh.closeAll()
		c.closeStderr()
		return nil, err
	}
	if note != "" {
		h.log.Warn("handoff: ignoring inherited sockets", "reason", note)
	}
	h.log.Debug("handoff: inherited", "generation", c.gen, "fds", c.inh.count(), "supervised", c.isSupervised)
	return c, nil
}

func (c *chain) supervised() bool { return c.isSupervised }
func (c *chain) generation() int  { return c.gen }

// readEnv takes the protocol variables out of the environment. note says
// why inherited fds were ignored, if they were.
func (c *chain) readEnv() (note string, err error) {
	take := func(name string) string {
		v := os.Getenv(name)
		os.Unsetenv(name)
		return v
	}
	if v := take(proto.EnvProtocol); v != "" {
		if err := proto.Check(v); err != nil {
			return "", fmt.Errorf("%w: started by the previous generation: %w", ErrProtocol, err)
		}
		c.fromParent = true
	}
	if v := take(proto.EnvGeneration); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return "", fmt.Errorf("%w: %s=%q: not a generation number", ErrProtocol, proto.EnvGeneration, v)
		}
		c.gen = n
	}
	if v := take(proto.EnvSupervisor); v != "" {
		c.isSupervised = true
		c.fromParent = false
		c.supervisorPID, _ = strconv.Atoi(v)
	}
	take(proto.EnvControl)
	c.successorByUID = take(proto.EnvHandoverPeer) == proto.HandoverPeerUID && c.isSupervised
	if v := take(proto.EnvStderrFD); v != "" {
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 3 {
			return "", fmt.Errorf("%w: %s=%q: not a descriptor", ErrProtocol, proto.EnvStderrFD, v)
		}
		unix.CloseOnExec(fd)
		c.stderrFD = fd
	}
	c.ancestors = proto.ParsePIDs(take(proto.EnvDraining))
	pred, err := readPredecessorEnv(take, c.fromParent, c.h)
	if err != nil {
		return "", err
	}
	c.pred = pred
	c.notify = take("NOTIFY_SOCKET")
	c.upstream = take(proto.EnvUpstreamNotify)
	if !c.fromParent && !c.isSupervised {
		// NOTIFY_SOCKET is systemd's own (or absent).
		c.upstream = c.notify
	}

	fds, pid, names := take("LISTEN_FDS"), take("LISTEN_PID"), take("LISTEN_FDNAMES")
	passed, err := activation.Parse(fds, pid, names, os.Getpid())
	if errors.Is(err, activation.ErrNotForUs) {
		// As libsystemd does: the fds belong to some other process (our
		// parent, most likely, whose environment we inherited). Leave them.
		return err.Error(), nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: inherited sockets: %w", ErrProtocol, err)
	}
	for _, p := range passed {
		// Whether the fd is what LISTEN_FDNAMES says, before anything
		// else touches it (Check reads close-on-exec: it must come before
		// ours). A descriptor that fails is not ours: LISTEN_FDS counted
		// more than were passed, and the number is one the runtime or the
		// program opened. It is neither adopted nor, at Ready, closed.
		in, err := activation.Check(p)
		if err != nil {
			c.log.Warn("handoff: inherited fd refused: left alone", "fd", p.FD, "name", p.Name, "err", err)
			continue
		}
		unix.CloseOnExec(p.FD)
		c.inh.add(in)
	}
	return "", nil
}

func (c *chain) resolveCommand() error {
	if c.h.opts.Command != nil {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("handoff: find own executable: %w", err)
	}
	c.exe, c.args = exe, append([]string(nil), os.Args...)
	return nil
}

func (c *chain) inheritListener(name, network, address string) (*socket, error) {
	in := c.inh.claim(name, network, address)
	if in == nil {
		return nil, nil
	}
	inner, err := listenerFromFD(in.FD, name)
	if err != nil {
		return nil, fmt.Errorf("inherited fd %d (%s): %w", in.FD, in.Name, err)
	}
	s, err := listenerSocket(in.Name, inner)
	if err != nil {
		inner.Close()
		return nil, err
	}
	c.log.Debug("handoff: listen: inherited", "network", network, "address", address, "fd", in.FD, "name", in.Name)
	return s, nil
}

func (c *chain) inheritPacket(name, network, address string) (*socket, net.PacketConn, error) {
	in := c.inh.claim(name, network, address)
	if in == nil {
		return nil, nil, nil
	}
	pc, err := packetConnFromFD(in.FD, name)
	if err != nil {
		return nil, nil, fmt.Errorf("inherited fd %d: %w", in.FD, err)
	}
	return &socket{name: in.Name, fd: in.FD}, pc, nil
}

func (c *chain) inheritFile(name string) (*socket, *os.File, error) {
	in := c.inh.claimName(name)
	if in == nil {
		return nil, nil, nil
	}
	f, err := dupFile(in.FD, name)
	if err != nil {
		return nil, nil, fmt.Errorf("inherited fd %d: %w", in.FD, err)
	}
	return &socket{name: name, fd: in.FD}, f, nil
}

// keep keeps a descriptor of our own for c's socket, without Fd() (which
// would switch the shared open file to blocking mode).
func (c *chain) keep(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	return sockets.Dup(rc)
}

// ready: see links.ready.
func (c *chain) ready() []error {
	c.inh.closeUnclaimed()
	c.storeFDs() // fdstore.go
	// Connect to the previous generation before it hears we are ready:
	// it drains from then on, and passes its connections on this channel.
	// A takeover's newcomer (joined) is connected already: it says ready
	// first, and receives only once the serving process heard it. One that
	// gave up on it has ended the channel, and a QUIC listener whose
	// channel ended reads the socket, which the serving process still
	// reads: this one steps back having read nothing.
	if c.pred != nil && c.joined == nil {
		c.pred.connect()
	}
	errs, stepBack := c.readyTakeover() // takeover_join.go
	if stepBack {
		return errs
	}
	if c.pred != nil && c.joined != nil {
		c.pred.connect()
	}
	gen := strconv.Itoa(c.gen)
	ready := []string{"READY=1", launch.MainPID(os.Getpid()), proto.ReadyVersion(), "STATUS=serving, generation " + gen}
	if c.h.signals != nil && !c.isSupervised {
		ready = append(ready, readyUpgradesOnHUP+"=1")
	}
	ready = append(ready, c.succ.announce()...)
	switch {
	case c.fromParent || c.isSupervised:
		if err := c.send(c.notify, ready...); err != nil {
			if errors.Is(err, sdnotify.ErrNoSocket) {
				// The parent promised a notify socket and left none.
				err = fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			errs = append(errs, fmt.Errorf("handoff: ready: tell the previous generation: %w", err))
		}
	default:
		c.notifyUpstream(ready...)
	}
	c.switchStderr()
	return errs
}

// stop: see links.stop.
func (c *chain) stop(superseded bool) {
	c.inh.closeAll()
	if c.tk != nil {
		c.tk.Close(superseded)
	}
	if !superseded {
		c.notifyUpstream("STOPPING=1")
	}
	c.succ.finish()
	if c.pred != nil {
		c.pred.close()
	}
	c.closeStderr()
}

func (c *chain) takeHTTP(l *listener) {
	if c.pred != nil {
		c.pred.takeHTTP(l)
	}
}

func (c *chain) successor(ctx context.Context) passer {
	if s := c.succ.channel(ctx); s != nil {
		return senderPasser{s}
	}
	return nil
}

func (c *chain) inheritedConns() <-chan Conn {
	if c.pred == nil {
		return closedConns()
	}
	return c.pred.inheritedConns()
}

func (c *chain) state(ctx context.Context) (*State, error) {
	if c.pred == nil || !c.pred.expectState {
		return nil, ErrNoState
	}
	return c.pred.state(ctx)
}

// switchStderr moves the parent's real stderr onto fd 2: until now fd 2 was
// a pipe into the parent, which is about to drain and exit.
func (c *chain) switchStderr() {
	c.stderrMu.Lock()
	fd := c.stderrFD
	c.stderrFD = -1
	c.stderrMu.Unlock()
	if fd < 0 {
		return
	}
	if err := dup2(fd, 2); err != nil {
		c.log.Warn("handoff: move stderr off the parent's pipe", "err", err)
	}
	unix.Close(fd)
}

func (c *chain) closeStderr() {
	c.stderrMu.Lock()
	defer c.stderrMu.Unlock()
	if c.stderrFD >= 0 {
		unix.Close(c.stderrFD)
		c.stderrFD = -1
	}
}

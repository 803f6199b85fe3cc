//go:build !windows

package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/sdnotify"
	"github.com/handoff-go/handoff/internal/spawn"
)

// envAncestors lists the pids of older generations that may still be
// draining, so that Options.MaxDraining can count them across processes.
const envAncestors = "HANDOFF_DRAINING"

// upgrade is Handoff.Upgrade (documented there) on Unix.
func (c *chain) upgrade() error {
	h := c.h
	if c.isSupervised {
		return ErrSupervised
	}
	if !c.upgrading.CompareAndSwap(false, true) {
		return ErrUpgradeInProgress
	}
	h.mu.Lock()
	if h.phase != PhaseServing {
		phase := h.phase
		h.mu.Unlock()
		c.upgrading.Store(false)
		return fmt.Errorf("%w (%s)", ErrNotServing, phase)
	}
	alive := aliveAncestors(c.ancestors)
	if len(alive) >= h.opts.MaxDraining {
		h.mu.Unlock()
		c.upgrading.Store(false)
		return fmt.Errorf("%w: pids %v (Options.MaxDraining is %d)", ErrTooManyDraining, alive, h.opts.MaxDraining)
	}
	h.setPhaseLocked(PhaseUpgrading)
	sockets := h.sockets
	h.mu.Unlock()

	start := time.Now()
	next := c.gen + 1
	c.notifyUpstream("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec(), "STATUS=upgrading to generation "+strconv.Itoa(next))
	err := c.start(next, sockets, append(alive, os.Getpid()))
	// Before the outcome is announced: whoever hears it may upgrade again
	// at once.
	c.upgrading.Store(false)
	switch {
	case err == nil:
		h.log.Info("handoff: upgrade done", "generation", next, "took", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, ErrStopped):
	default:
		h.log.Error("handoff: upgrade", "err", err)
		// sd_notify cannot say "reload failed"; HAProxy's convention is
		// READY=1 with a STATUS that says so.
		c.notifyUpstream("READY=1", selfPID(), "STATUS=upgrade failed, generation "+strconv.Itoa(c.gen)+" still serving: "+oneLine(err.Error()))
	}
	return err
}

// start starts generation next with sockets and sees it through to its
// outcome: ready and past probation (cutover), or failed.
func (c *chain) start(next int, sockets []*socket, draining []int) error {
	h := c.h
	path, args, err := c.command()
	if err != nil {
		c.backToServing()
		return fmt.Errorf("%w: generation %d: %w", ErrUpgradeFailed, next, err)
	}
	dir, err := os.MkdirTemp("", "handoff-upgrade-*") // 0700: only we can reach the socket
	if err != nil {
		c.backToServing()
		return fmt.Errorf("%w: generation %d: notify socket: %w", ErrUpgradeFailed, next, err)
	}
	defer os.RemoveAll(dir)
	recv, err := sdnotify.Listen(filepath.Join(dir, "notify.sock"))
	if err != nil {
		c.backToServing()
		return fmt.Errorf("%w: generation %d: notify socket: %w", ErrUpgradeFailed, next, err)
	}
	defer recv.Close()

	env := activation.Clean(os.Environ(), "HANDOFF_")
	// A self-upgrade starts a handoff program, which adopts its fds itself
	// (one exec); any other command goes through the shim (two execs).
	exe, adopt := path, h.opts.Command == nil
	if adopt {
		env = append(env, proto.EnvAdoptFDs+"=1")
	} else {
		exe = shimPath()
		env = append(env, activation.ShimEnv(path))
	}
	env = append(env,
		proto.EnvProtocol+"="+strconv.Itoa(proto.Version),
		proto.EnvGeneration+"="+strconv.Itoa(next),
		"NOTIFY_SOCKET="+recv.Path(),
		envAncestors+"="+joinPids(draining),
		// spawn places our real stderr right after the sockets.
		proto.EnvStderrFD+"="+strconv.Itoa(activation.FirstFD+len(sockets)),
	)
	if c.upstream != "" {
		env = append(env, proto.EnvUpstreamNotify+"="+c.upstream)
	}
	// The handover channel (successor.go): the new generation connects to
	// it before it declares itself ready.
	hl, err := handover.Listen("")
	if err != nil {
		h.log.Warn("handoff: handover: no channel for this upgrade; connections will drain, no state is passed", "err", err)
		hl = nil
	} else {
		env = append(env, proto.EnvHandover+"="+hl.Path(), proto.EnvHandoverPID+"="+strconv.Itoa(os.Getpid()))
		if h.opts.SaveState != nil {
			env = append(env, proto.EnvState+"=1")
		}
	}
	// The link takes hl over once the child runs; every other way out
	// closes it.
	defer func() {
		if hl != nil {
			hl.Close()
		}
	}()
	// The descriptors stay valid while we hold fdMu: Stop closes sockets
	// only with it held for writing.
	h.fdMu.RLock()
	fds, names := passOrder(sockets)
	env = append(env, activationEnv(names)...)
	p, err := spawn.Start(spawn.Config{
		Path:       exe,
		Args:       args,
		Env:        env,
		Files:      fds,
		Stderr:     h.opts.Stderr,
		PassStderr: true,
	})
	h.fdMu.RUnlock()
	if err != nil {
		c.backToServing()
		return fmt.Errorf("%w: generation %d: %w", ErrUpgradeFailed, next, err)
	}
	h.log.Info("handoff: upgrade: started", "generation", next, "pid", p.Pid, "path", path)
	var link *successorLink
	if hl != nil {
		link = c.succ.offer(hl, handover.Peer{PID: p.Pid}, false)
		hl = nil
	}

	ready := make(chan error, 1)
	go waitReady(recv, p.Pid, ready, h.log)

	timer := time.NewTimer(h.opts.ReadyTimeout)
	defer timer.Stop()
	var failure string
	var cause error // a version mismatch the new generation reported
	select {
	case err := <-ready:
		if err == nil {
			if !c.succ.connectedBy(link) {
				link = nil
			}
			return c.cutover(next, p, link)
		}
		failure, cause = err.Error(), err
	case <-p.Done():
		failure = "exited before it was ready: " + p.Describe()
	case <-timer.C:
		failure = "not ready within " + h.opts.ReadyTimeout.String()
	case <-h.stopping():
		p.Kill()
		c.succ.abandon(link, "this generation stopped")
		return ErrStopped
	}
	p.Kill()
	c.succ.abandon(link, "the upgrade failed")
	if !strings.Contains(failure, "last stderr lines") {
		if t := strings.TrimSpace(p.Tail()); t != "" {
			failure += "; last stderr lines:\n" + t
		}
	}
	c.backToServing()
	err = fmt.Errorf("%w: generation %d (pid %d, %s): %s", ErrUpgradeFailed, next, p.Pid, path, failure)
	if cause != nil {
		err = fmt.Errorf("%w: generation %d (pid %d, %s): %w%s", ErrUpgradeFailed, next, p.Pid, path, cause, strings.TrimPrefix(failure, cause.Error()))
	}
	return err
}

// waitReady reads the new generation's notifications until READY=1 or the
// socket closes. Datagrams from other processes are ignored: the socket is in
// a 0700 directory, and on Linux the kernel vouches for the sender's pid.
func waitReady(recv *sdnotify.Receiver, pid int, ready chan<- error, log *slog.Logger) {
	for {
		d, err := recv.Receive()
		if err != nil {
			return
		}
		if d.Err != nil {
			log.Warn("handoff: upgrade: malformed notification", "pid", d.PID, "err", d.Err)
			continue
		}
		if d.PID != 0 && d.PID != pid {
			log.Warn("handoff: upgrade: notification from another process ignored", "pid", d.PID, "want", pid)
			continue
		}
		if s, ok := d.Msg.Get("STATUS"); ok {
			log.Debug("handoff: upgrade: status", "pid", pid, "status", s)
		}
		if v, ok := d.Msg.Get("READY"); ok && v == "1" {
			if version, ok := d.Msg.Get(proto.ReadyField); ok {
				if err := proto.Check(version); err != nil {
					ready <- fmt.Errorf("new generation is ready but: %w: %w", ErrProtocol, err)
					return
				}
			}
			ready <- nil
			return
		}
	}
}

// cutover: the new generation is ready. Stop accepting, keep the sockets for
// the probation window, then drain, or roll back if the new one dies.
func (c *chain) cutover(next int, p *spawn.Process, link *successorLink) error {
	h := c.h
	h.mu.Lock()
	if h.phase == PhaseStopped {
		h.mu.Unlock()
		p.Kill()
		c.succ.abandon(link, "this generation stopped")
		return ErrStopped
	}
	c.succ.install(link)
	drainingAlready := h.phase == PhaseDraining // a stop signal came during the upgrade
	if !drainingAlready && h.setPhaseLocked(PhaseProbation) {
		for _, s := range h.sockets {
			s.pause()
		}
	}
	h.mu.Unlock()

	if h.opts.PIDFile != "" {
		if err := writePIDFile(h.opts.PIDFile+".oldbin", os.Getpid()); err != nil {
			h.log.Warn("handoff: oldbin pid file", "err", err)
		}
	}
	// We are still systemd's main process, so this is accepted even with
	// NotifyAccess=main.
	c.notifyUpstream(mainPID(p.Pid), "READY=1", "STATUS=generation "+strconv.Itoa(next)+" serving")
	h.log.Info("handoff: upgrade: new generation ready", "generation", next, "pid", p.Pid)

	if !drainingAlready && h.opts.Probation > 0 {
		timer := time.NewTimer(h.opts.Probation)
		defer timer.Stop()
		select {
		case <-p.Done():
			return c.rollback(next, p)
		case <-timer.C:
		case <-h.stopping():
		}
	}
	h.mu.Lock()
	h.superseded = true
	h.beginDrainLocked()
	h.mu.Unlock()
	h.log.Info("handoff: draining: the new generation passed probation", "generation", next, "pid", p.Pid)
	return nil
}

func (c *chain) rollback(next int, p *spawn.Process) error {
	h := c.h
	h.mu.Lock()
	if h.phase != PhaseProbation {
		// A stop signal arrived during probation: this generation is on
		// its way out and must not start accepting again.
		h.mu.Unlock()
		return fmt.Errorf("%w: generation %d (pid %d) died in probation while this generation was stopping: %s", ErrUpgradeFailed, next, p.Pid, p.Describe())
	}
	link := c.succ.uninstall()
	defer c.succ.abandon(link, "the new generation died in probation")
	h.setPhaseLocked(PhaseServing)
	for _, s := range h.sockets {
		s.resume()
	}
	h.mu.Unlock()
	if h.opts.PIDFile != "" {
		if err := writePIDFile(h.opts.PIDFile, os.Getpid()); err != nil {
			h.log.Warn("handoff: pid file", "err", err)
		}
		removeIfOurs(h.opts.PIDFile + ".oldbin")
	}
	// Accepted by systemd only with NotifyAccess=all: the main pid is
	// now the dead successor's.
	c.notifyUpstream(selfPID(), "READY=1", "STATUS=upgrade rolled back, generation "+strconv.Itoa(c.gen)+" serving")
	return fmt.Errorf("%w: generation %d (pid %d) died in probation: %s", ErrRolledBack, next, p.Pid, p.Describe())
}

func (c *chain) backToServing() {
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.phase == PhaseUpgrading {
		h.setPhaseLocked(PhaseServing)
	}
}

func (c *chain) command() (string, []string, error) {
	if c.h.opts.Command != nil {
		path, args, err := c.h.opts.Command()
		if err != nil {
			return "", nil, err
		}
		if len(args) == 0 {
			args = []string{path}
		}
		return path, args, nil
	}
	if _, err := os.Stat(c.exe); err != nil {
		return "", nil, fmt.Errorf("new binary: %w", err)
	}
	return c.exe, c.args, nil
}

// shimPath is the handoff binary that sets LISTEN_PID and execs the new
// program (see internal/activation). On Linux it is this process's own
// executable as the kernel holds it, which works even after the file on disk
// was replaced or deleted; elsewhere, the path this process started from.
var shimPath = func() string {
	if runtime.GOOS == "linux" {
		return "/proc/self/exe"
	}
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

// passOrder returns the descriptors to pass, sorted, with their names.
// Sorted, the i-th descriptor is never below its target number 3+i, so
// the child side of fork never has to move one out of the way first: with
// thousands of sockets, those moves would run past RLIMIT_NOFILE (EBADF).
func passOrder(sockets []*socket) ([]int, []string) {
	type pair struct {
		fd   int
		name string
	}
	pairs := make([]pair, len(sockets))
	for i, s := range sockets {
		pairs[i] = pair{s.rawFD(), s.name}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return a.fd - b.fd })
	fds := make([]int, len(pairs))
	names := make([]string, len(pairs))
	for i, p := range pairs {
		fds[i], names[i] = p.fd, p.name
	}
	return fds, fitNames(names)
}

// activationEnv is activation.Env without LISTEN_PID (the shim sets it).
// Names were validated when the sockets were named, so it cannot fail.
func activationEnv(names []string) []string {
	env, err := activation.Env(names, 0)
	if err != nil {
		return []string{"LISTEN_FDS=" + strconv.Itoa(len(names))}
	}
	return env
}

// maxNamesLen keeps LISTEN_FDNAMES well under the kernel's 128 KiB limit
// on one environment string (MAX_ARG_STRLEN): past it, exec fails with E2BIG.
const maxNamesLen = 64 << 10

// fitNames shortens the names of inet sockets to "inet" when all names
// together would not fit in LISTEN_FDNAMES (thousands of sockets). A
// successor finds those by address anyway; names that only a name can find
// (files, unix sockets) are kept.
func fitNames(names []string) []string {
	total := 0
	for _, n := range names {
		total += len(n) + 1
	}
	if total <= maxNamesLen {
		return names
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if strings.HasPrefix(n, "tcp") || strings.HasPrefix(n, "udp") {
			out[i] = "inet"
		}
	}
	return out
}

func aliveAncestors(pids []int) []int {
	var alive []int
	for _, pid := range pids {
		if pid > 0 && unix.Kill(pid, 0) == nil && !isZombie(pid) {
			alive = append(alive, pid)
		}
	}
	return alive
}

// isZombie reports whether pid has exited but not been reaped yet: an old
// generation orphaned to an init that reaps lazily still answers kill(0).
func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false // not Linux, or gone: kill(0) decided
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain them.
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func splitPids(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

func joinPids(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

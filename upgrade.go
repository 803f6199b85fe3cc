package handoff

import (
	"errors"
	"fmt"
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

// Upgrade starts the next generation and hands it this generation's sockets.
// It returns once the outcome is final:
//
//   - nil: the new generation became ready and survived the probation
//     window; this generation is draining (Draining is closed).
//   - ErrUpgradeFailed: the new program is missing, exited, crashed or was
//     not ready within Options.ReadyTimeout. It was killed; this generation
//     keeps serving and never stopped accepting. The error says why, with
//     the exit status and the last lines the new process wrote to stderr.
//   - ErrRolledBack: the new generation became ready, then died within the
//     probation window; this generation accepts again.
//   - ErrUpgradeInProgress, ErrNotServing, ErrSupervised,
//     ErrTooManyDraining: nothing was started.
//
// One upgrade runs at a time. SIGHUP and SIGUSR2 call Upgrade (unless
// Options.NoSignals) and log its result.
func (h *Handoff) Upgrade() error {
	if h.supervised {
		return ErrSupervised
	}
	h.mu.Lock()
	if h.upgrading {
		h.mu.Unlock()
		return ErrUpgradeInProgress
	}
	if h.phase != Serving {
		phase := h.phase
		h.mu.Unlock()
		return fmt.Errorf("%w (%s)", ErrNotServing, phase)
	}
	alive := aliveAncestors(h.ancestors)
	if len(alive) >= h.opts.MaxDraining {
		h.mu.Unlock()
		return fmt.Errorf("%w: pids %v (Options.MaxDraining is %d)", ErrTooManyDraining, alive, h.opts.MaxDraining)
	}
	h.upgrading = true
	h.setPhase(Upgrading)
	sockets := h.sockets
	h.mu.Unlock()

	start := time.Now()
	next := h.generation + 1
	h.notifyUpstream("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec(), "STATUS=upgrading to generation "+strconv.Itoa(next))
	err := h.upgrade(next, sockets, append(alive, os.Getpid()))
	// Before the outcome is announced: whoever hears it may upgrade again
	// at once.
	h.mu.Lock()
	h.upgrading = false
	h.mu.Unlock()
	switch {
	case err == nil:
		h.log.Info("handoff: upgrade done", "generation", next, "took", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, ErrStopped):
	default:
		h.log.Error("handoff: upgrade", "err", err)
		// sd_notify cannot say "reload failed"; HAProxy's convention is
		// READY=1 with a STATUS that says so.
		h.notifyUpstream("READY=1", selfPID(), "STATUS=upgrade failed, generation "+strconv.Itoa(h.generation)+" still serving: "+oneLine(err.Error()))
	}
	return err
}

func (h *Handoff) upgrade(next int, sockets []*socket, draining []int) error {

	path, args, err := h.command()
	if err != nil {
		h.backToServing()
		return fmt.Errorf("%w: generation %d: %v", ErrUpgradeFailed, next, err)
	}
	dir, err := os.MkdirTemp("", "handoff-upgrade-*") // 0700: only we can reach the socket
	if err != nil {
		h.backToServing()
		return fmt.Errorf("%w: generation %d: notify socket: %v", ErrUpgradeFailed, next, err)
	}
	defer os.RemoveAll(dir)
	recv, err := sdnotify.Listen(filepath.Join(dir, "notify.sock"))
	if err != nil {
		h.backToServing()
		return fmt.Errorf("%w: generation %d: notify socket: %v", ErrUpgradeFailed, next, err)
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
	if h.upstream != "" {
		env = append(env, proto.EnvUpstreamNotify+"="+h.upstream)
	}
	// The handover channel (channel.go): the new generation connects to
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
		h.backToServing()
		return fmt.Errorf("%w: generation %d: %v", ErrUpgradeFailed, next, err)
	}
	h.log.Info("handoff: upgrade: started", "generation", next, "pid", p.Pid, "path", path)
	var link *successorLink
	if hl != nil {
		link = h.offer(hl, handover.Peer{PID: p.Pid}, false)
		hl = nil
	}

	ready := make(chan error, 1)
	go waitReady(recv, p.Pid, ready, h)

	timer := time.NewTimer(h.opts.ReadyTimeout)
	defer timer.Stop()
	var failure string
	select {
	case err := <-ready:
		if err == nil {
			if !h.connectedBy(link) {
				link = nil
			}
			return h.cutover(next, p, link)
		}
		failure = err.Error()
	case <-p.Done():
		failure = "exited before it was ready: " + p.Describe()
	case <-timer.C:
		failure = "not ready within " + h.opts.ReadyTimeout.String()
	case <-h.stopping():
		p.Kill()
		h.abandon(link, "this generation stopped")
		return ErrStopped
	}
	p.Kill()
	h.abandon(link, "the upgrade failed")
	if !strings.Contains(failure, "last stderr lines") {
		if t := strings.TrimSpace(p.Tail()); t != "" {
			failure += "; last stderr lines:\n" + t
		}
	}
	h.backToServing()
	return fmt.Errorf("%w: generation %d (pid %d, %s): %s", ErrUpgradeFailed, next, p.Pid, path, failure)
}

// waitReady reads the new generation's notifications until READY=1 or the
// socket closes. Datagrams from other processes are ignored: the socket is in
// a 0700 directory, and on Linux the kernel vouches for the sender's pid.
func waitReady(recv *sdnotify.Receiver, pid int, ready chan<- error, h *Handoff) {
	for {
		d, err := recv.Receive()
		if err != nil {
			return
		}
		if d.Err != nil {
			h.log.Warn("handoff: upgrade: malformed notification", "pid", d.PID, "err", d.Err)
			continue
		}
		if d.PID != 0 && d.PID != pid {
			h.log.Warn("handoff: upgrade: notification from another process ignored", "pid", d.PID, "want", pid)
			continue
		}
		if s, ok := d.Msg.Get("STATUS"); ok {
			h.log.Debug("handoff: upgrade: status", "pid", pid, "status", s)
		}
		if v, ok := d.Msg.Get("READY"); ok && v == "1" {
			if version, ok := d.Msg.Get(proto.ReadyField); ok {
				if err := proto.Check(version); err != nil {
					ready <- fmt.Errorf("new generation is ready but: %w", err)
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
func (h *Handoff) cutover(next int, p *spawn.Process, link *successorLink) error {
	h.mu.Lock()
	if h.phase == Stopped {
		h.mu.Unlock()
		p.Kill()
		h.abandon(link, "this generation stopped")
		return ErrStopped
	}
	h.link = link
	drainingAlready := h.phase == Draining // a stop signal came during the upgrade
	if !drainingAlready {
		h.setPhase(Probation)
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
	h.notifyUpstream(mainPID(p.Pid), "READY=1", "STATUS=generation "+strconv.Itoa(next)+" serving")
	h.log.Info("handoff: upgrade: new generation ready", "generation", next, "pid", p.Pid)

	if !drainingAlready && h.opts.Probation > 0 {
		timer := time.NewTimer(h.opts.Probation)
		defer timer.Stop()
		select {
		case <-p.Done():
			return h.rollback(next, p)
		case <-timer.C:
		case <-h.stopping():
		}
	}
	h.mu.Lock()
	h.handedOver = true
	h.beginDrainLocked()
	h.mu.Unlock()
	h.log.Info("handoff: draining: the new generation passed probation", "generation", next, "pid", p.Pid)
	return nil
}

func (h *Handoff) rollback(next int, p *spawn.Process) error {
	h.mu.Lock()
	if h.phase != Probation {
		// A stop signal arrived during probation: this generation is on
		// its way out and must not start accepting again.
		h.mu.Unlock()
		return fmt.Errorf("%w: generation %d (pid %d) died in probation while this generation was stopping: %s", ErrUpgradeFailed, next, p.Pid, p.Describe())
	}
	link := h.link
	h.link = nil
	defer h.abandon(link, "the new generation died in probation")
	h.setPhase(Serving)
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
	h.notifyUpstream(selfPID(), "READY=1", "STATUS=upgrade rolled back, generation "+strconv.Itoa(h.generation)+" serving")
	return fmt.Errorf("%w: generation %d (pid %d) died in probation: %s", ErrRolledBack, next, p.Pid, p.Describe())
}

func (h *Handoff) backToServing() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.phase == Upgrading {
		h.setPhase(Serving)
	}
}

func (h *Handoff) command() (string, []string, error) {
	if h.opts.Command != nil {
		path, args, err := h.opts.Command()
		if err != nil {
			return "", nil, err
		}
		if len(args) == 0 {
			args = []string{path}
		}
		return path, args, nil
	}
	if _, err := os.Stat(h.exe); err != nil {
		return "", nil, fmt.Errorf("new binary: %w", err)
	}
	return h.exe, h.args, nil
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

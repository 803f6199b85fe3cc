//go:build !windows

package handoff

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/spawn"
)

// runOne runs one upgrade to its outcome (see Handoff.UpgradeReport).
func (c *chain) runOne(r *upgradeRun) (UpgradeReport, error) {
	h := c.h
	h.mu.Lock()
	if h.phase != PhaseServing {
		phase := h.phase
		h.mu.Unlock()
		return UpgradeReport{}, fmt.Errorf("%w (%s)", ErrNotServing, phase)
	}
	alive := launch.Alive(c.ancestors)
	var retired []int
	if len(alive) >= h.opts.MaxDraining {
		var err error
		if alive, retired, err = c.retireOldest(alive); err != nil {
			h.mu.Unlock()
			return UpgradeReport{}, err
		}
	}
	h.setPhaseLocked(PhaseUpgrading)
	sockets := h.sockets
	h.mu.Unlock()
	h.stats.upgradeBegan()

	start := time.Now()
	next := c.gen + 1
	c.notifyUpstream(append(launch.Reloading("upgrading to generation "+strconv.Itoa(next)), c.extendTimeout())...)
	var rep UpgradeReport
	var err error
	if r.takeover != nil {
		rep, err = c.takeover(next, sockets, r.takeover) // takeover_serve.go
	} else {
		rep, err = c.start(next, sockets, append(alive, os.Getpid()))
	}
	rep.Retired = retired
	switch {
	case err == nil:
		h.log.Info("handoff: upgrade done", "generation", next, "took", time.Since(start).Round(time.Millisecond))
	case errors.Is(err, ErrStopped):
		h.log.Info("handoff: upgrade abandoned: this generation is stopping", "err", err)
	default:
		h.log.Error("handoff: upgrade", "err", err)
		// sd_notify cannot say "reload failed"; HAProxy's convention is
		// READY=1 with a STATUS that says so.
		c.notifyUpstream("READY=1", launch.MainPID(os.Getpid()), "STATUS=upgrade failed, generation "+strconv.Itoa(c.gen)+" still serving: "+oneLine(err.Error()))
	}
	return rep, err
}

// start starts generation next with sockets and sees it through to its
// outcome: ready and past probation (cutover), or failed.
func (c *chain) start(next int, sockets []*socket, draining []int) (UpgradeReport, error) {
	h := c.h
	rep := UpgradeReport{Generation: next}
	path, args, err := c.command()
	if err != nil {
		c.backToServing()
		return rep, fmt.Errorf("%w: generation %d: %w", ErrUpgradeFailed, next, err)
	}
	notify, err := launch.ListenNotify("")
	if err != nil {
		c.backToServing()
		return rep, fmt.Errorf("%w: generation %d: %w", ErrUpgradeFailed, next, err)
	}
	defer notify.Close()

	child := launch.Child{
		Env:        os.Environ(),
		Program:    path,
		Adopt:      h.opts.Command == nil, // a self-upgrade adopts its fds itself: one exec, no shim
		Generation: next,
		Notify:     notify.Path(),
		PassStderr: true,
		Upstream:   c.upstream,
		Draining:   draining,
	}
	// The handover channel (successor.go): the new generation connects to
	// it before it declares itself ready.
	hl, err := handover.Listen("")
	if err != nil {
		h.log.Warn("handoff: handover: no channel for this upgrade; connections will drain, no state is passed", "err", err)
		hl = nil
	} else {
		child.Handover = launch.Handover{Path: hl.Path(), PID: os.Getpid(), State: h.opts.SaveState != nil}
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
	socks := make([]launch.Socket, len(sockets))
	for i, s := range sockets {
		socks[i] = launch.Socket{FD: s.rawFD(), Name: s.name}
	}
	fds, names := launch.Order(socks)
	child.Names = names
	exe, env, err := child.Command()
	env = c.takeoverEnv(env) // takeover_listen.go
	var p *spawn.Process
	if err == nil {
		p, err = spawn.Start(spawn.Config{
			Path:       exe,
			Args:       args,
			Env:        env,
			Files:      fds,
			Stderr:     h.opts.Stderr,
			PassStderr: true,
		})
	}
	h.fdMu.RUnlock()
	if err != nil {
		c.backToServing()
		return rep, fmt.Errorf("%w: generation %d: %w", ErrUpgradeFailed, next, err)
	}
	rep.PID = p.Pid
	h.log.Info("handoff: upgrade: started", "generation", next, "pid", p.Pid, "path", path)
	var link *successorLink
	if hl != nil {
		link = c.succ.offer(hl, handover.Peer{PID: p.Pid}, false)
		hl = nil
	}

	ready := awaitReady(notify, p.Pid, h.log)
	r, failure, cause, err := c.waitReady(next, childGen{p}, ready, link) // newgen.go
	if err != nil {
		return rep, err
	}
	if failure == "" {
		if !c.succ.connectedBy(link) {
			link = nil
		}
		return rep, c.cutover(next, childGen{p}, link, r.onHUP)
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
	return rep, err
}

// readiness is what awaitReady learnt: the child is ready (err nil), and
// whether it said it upgrades on SIGHUP.
type readiness struct {
	err   error
	onHUP bool
}

// awaitReady is launch.Notify.AwaitReady (same checks, logs and errors)
// that keeps what the READY=1 datagram says beyond readiness: whether the
// new generation upgrades on SIGHUP (readyUpgradesOnHUP), which a queued
// upgrade needs to know (trigger.go).
func awaitReady(n *launch.Notify, pid int, log *slog.Logger) <-chan readiness {
	ready := make(chan readiness, 1)
	go func() {
		r := <-n.AwaitReady(pid, log)
		v, _ := r.Msg.Get(readyUpgradesOnHUP)
		ready <- readiness{err: r.Err, onHUP: r.Err == nil && v == "1"}
	}()
	return ready
}

// cutover: the new generation is ready. Stop accepting, keep the sockets for
// the probation window, then drain, or roll back if the new one dies.
func (c *chain) cutover(next int, p newGeneration, link *successorLink, onHUP bool) error {
	h := c.h
	h.mu.Lock()
	if h.phase != PhaseUpgrading {
		// A stop signal (or Stop) came as the new generation became
		// ready: the service is stopping; nobody is to serve on.
		h.mu.Unlock()
		p.Kill()
		c.succ.abandon(link, "this generation stopped")
		return fmt.Errorf("%w: generation %d (pid %d) was killed as it became ready", ErrStopped, next, p.pid())
	}
	c.succ.install(link)
	h.setPhaseLocked(PhaseProbation)
	h.stats.upgradeReady()
	for _, s := range h.sockets {
		s.pause()
	}
	h.mu.Unlock()

	var restore *launch.PendingPIDFile // a rollback's PID file, written now (pidfile.go)
	if h.opts.PIDFile != "" {
		if err := launch.WritePIDFile(h.opts.PIDFile+".oldbin", os.Getpid()); err != nil {
			h.log.Warn("handoff: oldbin pid file", "err", err)
		}
		var err error
		if restore, err = launch.PreparePIDFile(h.opts.PIDFile, os.Getpid()); err != nil {
			h.log.Warn("handoff: pid file: a rollback could not name this generation again", "err", err)
		}
		defer restore.Abort()
	}
	c.notifyUpstream(p.readyNotice(next)...) // newgen.go, takeover_peer.go
	h.log.Info("handoff: upgrade: new generation ready", "generation", next, "pid", p.pid())

	if h.opts.Probation > 0 {
		timer := time.NewTimer(h.opts.Probation)
		defer timer.Stop()
		select {
		case <-p.Done():
			return c.rollback(next, p, restore)
		case <-timer.C:
		case <-h.draining:
			// A stop of this, the old, generation during probation
			// (Drain and Stop set superseded when they find the phase
			// in probation): the new one serves on, and keeps the unix
			// socket paths and systemd's ear.
			h.log.Info("handoff: stopped during probation: the new generation serves on", "generation", next, "pid", p.pid())
		}
	}
	c.handOver(next, p, onHUP)
	h.stats.upgradeDone()
	h.mu.Lock()
	h.superseded = true
	h.beginDrainLocked()
	h.mu.Unlock()
	h.log.Info("handoff: draining: the new generation passed probation", "generation", next, "pid", p.pid())
	return nil
}

// rollback: the new generation p ended within the probation window.
// restore, when not nil, is this generation's PID file, prepared at
// cutover so that a full disk cannot keep the rollback from naming it.
func (c *chain) rollback(next int, p newGeneration, restore *launch.PendingPIDFile) error {
	h := c.h
	h.mu.Lock()
	if h.phase != PhaseProbation {
		// A stop came during probation: this generation is on its way
		// out and must not start accepting again.
		h.mu.Unlock()
		return fmt.Errorf("%w: generation %d (pid %d) died in probation while this generation was stopping: %s", ErrUpgradeFailed, next, p.pid(), p.Describe())
	}
	link := c.succ.uninstall()
	defer c.succ.abandon(link, "the new generation ended in probation")
	if p.stoppedOnPurpose() {
		// It drained and exited, or was terminated: it was told to stop
		// (the pid file and MAINPID name it now), not crashed. The
		// service is stopping; serving again here would leave this
		// generation running, orphaned. Drain too.
		h.beginDrainLocked()
		h.mu.Unlock()
		h.log.Info("handoff: the new generation was stopped during probation: the service stops, this generation drains too",
			"generation", next, "pid", p.pid(), "exit", p.Describe())
		return fmt.Errorf("%w: generation %d (pid %d) was stopped in probation (%s); this generation drains too", ErrStopped, next, p.pid(), p.Describe())
	}
	h.setPhaseLocked(PhaseServing)
	for _, s := range h.sockets {
		s.resume()
	}
	h.mu.Unlock()
	c.reclaimTakeover() // takeover_listen.go: the dead one's socket path
	if h.opts.PIDFile != "" {
		err := restore.Commit()
		if restore == nil {
			err = launch.WritePIDFile(h.opts.PIDFile, os.Getpid())
		}
		if err != nil {
			h.log.Warn("handoff: pid file", "err", err)
		}
		launch.RemovePIDFile(h.opts.PIDFile+".oldbin", os.Getpid())
	}
	// Accepted by systemd only with NotifyAccess=all: the main pid is
	// now the dead successor's.
	c.notifyUpstream(launch.MainPID(os.Getpid()), "READY=1", "STATUS=upgrade rolled back, generation "+strconv.Itoa(c.gen)+" serving")
	return fmt.Errorf("%w: generation %d (pid %d) died in probation: %s", ErrRolledBack, next, p.pid(), p.Describe())
}

// stoppedOnPurpose tells a generation that ended because it was told to
// (it exited 0 after its drain, or a SIGTERM or SIGINT it does not handle
// ended it) from one that crashed (any other exit status or signal, SIGKILL
// included: the OOM killer sends it).
func stoppedOnPurpose(st *os.ProcessState) bool {
	if st == nil {
		return false
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal() == syscall.SIGTERM || ws.Signal() == syscall.SIGINT
	}
	return st.Exited() && st.ExitCode() == 0
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

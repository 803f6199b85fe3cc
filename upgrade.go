//go:build !windows

package handoff

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/spawn"
)

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
	alive := launch.Alive(c.ancestors)
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
	c.notifyUpstream(launch.Reloading("upgrading to generation " + strconv.Itoa(next))...)
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
		c.notifyUpstream("READY=1", launch.MainPID(os.Getpid()), "STATUS=upgrade failed, generation "+strconv.Itoa(c.gen)+" still serving: "+oneLine(err.Error()))
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
	notify, err := launch.ListenNotify("")
	if err != nil {
		c.backToServing()
		return fmt.Errorf("%w: generation %d: %w", ErrUpgradeFailed, next, err)
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
		return fmt.Errorf("%w: generation %d: %w", ErrUpgradeFailed, next, err)
	}
	h.log.Info("handoff: upgrade: started", "generation", next, "pid", p.Pid, "path", path)
	var link *successorLink
	if hl != nil {
		link = c.succ.offer(hl, handover.Peer{PID: p.Pid}, false)
		hl = nil
	}

	ready := notify.WaitReady(p.Pid, h.log)

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
		if errors.Is(err, proto.ErrVersion) {
			cause = fmt.Errorf("%w: %w", ErrProtocol, err)
			failure = cause.Error()
		}
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
		if err := launch.WritePIDFile(h.opts.PIDFile+".oldbin", os.Getpid()); err != nil {
			h.log.Warn("handoff: oldbin pid file", "err", err)
		}
	}
	// We are still systemd's main process, so this is accepted even with
	// NotifyAccess=main.
	c.notifyUpstream(launch.MainPID(p.Pid), "READY=1", "STATUS=generation "+strconv.Itoa(next)+" serving")
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
		if err := launch.WritePIDFile(h.opts.PIDFile, os.Getpid()); err != nil {
			h.log.Warn("handoff: pid file", "err", err)
		}
		launch.RemovePIDFile(h.opts.PIDFile+".oldbin", os.Getpid())
	}
	// Accepted by systemd only with NotifyAccess=all: the main pid is
	// now the dead successor's.
	c.notifyUpstream(launch.MainPID(os.Getpid()), "READY=1", "STATUS=upgrade rolled back, generation "+strconv.Itoa(c.gen)+" serving")
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

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

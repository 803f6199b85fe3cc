//go:build !windows

package handoff

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/takeover"
)

// The serving side of a takeover (docs/TAKEOVER.md). A newcomer connects
// to the takeover socket; the kernel's word on its uid is checked by the
// handshake (internal/handover). The takeover then runs as an upgrade of
// this generation, in the same queue (trigger.go), with the newcomer in
// the place of a child:
//
//  1. the listening sockets go over the channel as one acknowledged batch
//     of descriptors, each with its name (metaListener), and the state
//     blob (Options.SaveState) follows;
//  2. the newcomer says ready on the channel (the ready frame); it has no
//     notify socket of ours. Until then this generation serves on; if the
//     channel closes, or ReadyTimeout passes, the takeover fails: the
//     newcomer is aborted (and killed, when its pid is visible here) and
//     this generation never stopped accepting;
//  3. then the cutover of a self-upgrade (upgrade.go): probation, rollback
//     if the newcomer dies in it, else the drain, which passes idle
//     keep-alive connections and the program's own on the same channel.

// serveTakeover makes this generation the one that listens on the
// takeover path, and serves takeovers there until Stop.
func (c *chain) serveTakeover() error {
	ln, err := c.tk.Listen()
	if err != nil {
		return err
	}
	c.log.Info("handoff: takeover: listening", "path", c.tk.String())
	go takeover.Accept(ln, c.log, c.h.stopping(), c.takeoverFrom)
	return nil
}

// takeoverFrom runs the takeover a newcomer asked for on uc. Whatever
// fails is logged and told to the newcomer; this generation serves on.
func (c *chain) takeoverFrom(uc *net.UnixConn) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	snd, err := handover.AcceptConn(ctx, uc, handover.Peer{})
	cancel()
	if err != nil {
		c.log.Warn("handoff: takeover: refused a connection", "err", err)
		return
	}
	c.log.Info("handoff: takeover: a newcomer connected", "newcomer", snd.KernelPID(), "newcomer_says", snd.PeerPID())
	r, err := c.triggerTakeover(snd)
	if err != nil {
		c.log.Warn("handoff: takeover: refused", "err", err)
		snd.Abort(err.Error())
		return
	}
	<-r.done
}

// triggerTakeover starts the takeover as this chain's running upgrade. A
// newcomer waits on a live channel, so it is never queued behind another
// upgrade: it is refused, and may try again.
func (c *chain) triggerTakeover(snd *handover.Sender) (*upgradeRun, error) {
	q := &c.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	if to := q.successor; to != nil {
		return nil, fmt.Errorf("%w: generation %d has taken over from this process", ErrNotServing, to.gen)
	}
	if q.running {
		return nil, fmt.Errorf("%w: try again once it is over", ErrUpgradeInProgress)
	}
	if p, _ := c.h.Phase(); p != PhaseServing {
		return nil, fmt.Errorf("%w (%s)", ErrNotServing, p)
	}
	q.running = true
	r := newRun()
	r.takeover = snd
	go c.runUpgrades(r)
	return r, nil
}

// takeover hands sockets over to the newcomer on snd, and sees it through
// to its outcome, as start does for a child.
func (c *chain) takeover(next int, sockets []*socket, snd *handover.Sender) (UpgradeReport, error) {
	h := c.h
	p := newNewcomer(snd)
	rep := UpgradeReport{Generation: next, PID: p.pid()}
	failed := func(why string) (UpgradeReport, error) {
		c.backToServing()
		return rep, fmt.Errorf("%w: %w: generation %d (pid %d): %s", ErrUpgradeFailed, ErrTakeover, next, p.pid(), why)
	}
	if len(sockets) == 0 || len(sockets) > takeover.MaxSockets {
		snd.Abort("the serving process has no sockets to hand over, or too many")
		return failed(strconv.Itoa(len(sockets)) + " sockets to hand over")
	}
	if err := c.sendListeners(next, sockets, snd); err != nil {
		snd.Abort("the listening sockets were not handed over: " + err.Error())
		return failed(err.Error())
	}
	h.log.Info("handoff: takeover: sockets handed over; waiting for the newcomer to be ready", "generation", next, "newcomer", p.pid(), "sockets", len(sockets))
	link := c.succ.offerTakeover(snd)

	ready := make(chan readiness, 1)
	go func() {
		select {
		case <-snd.Ready():
			ready <- readiness{}
		case <-p.Done():
		}
	}()
	_, failure, _, err := c.waitReady(next, p, ready, link) // newgen.go
	if err != nil {
		return rep, fmt.Errorf("%w: %w", ErrTakeover, err)
	}
	if failure == "" {
		return rep, c.cutover(next, p, link, false)
	}
	p.Kill()
	c.succ.abandon(link, "the takeover failed")
	return failed(failure)
}

// sendListeners passes every socket this generation serves on, in order,
// with its name: the newcomer's Listen calls claim them as inherited ones.
// This generation keeps its own descriptors (it serves on until the
// newcomer is ready, and again after a rollback).
func (c *chain) sendListeners(next int, sockets []*socket, snd *handover.Sender) error {
	// The descriptors stay valid while we hold fdMu: Stop closes sockets
	// only with it held for writing.
	c.h.fdMu.RLock()
	defer c.h.fdMu.RUnlock()
	state := c.h.opts.SaveState != nil
	conns := make([]handover.Conn, len(sockets))
	for i, s := range sockets {
		m := takeover.SocketMeta{State: state, Generation: next, Index: i, Count: len(sockets), Name: s.name}
		conns[i] = handover.Conn{Socket: takeover.KeptSocket(s.rawFD()), Meta: m.Encode()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	_, err := snd.SendConns(ctx, conns)
	return err
}

// offerTakeover is offer (successor.go) for a successor that is already
// connected: the state blob streams to it at once, while it gets ready.
func (s *successor) offerTakeover(snd *handover.Sender) *successorLink {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.opts.ReadyTimeout+dialTimeout)
	link := &successorLink{connected: make(chan struct{}), settled: make(chan struct{}), cancel: cancel}
	close(link.connected)
	go func() {
		select {
		case <-s.h.stopping():
			cancel()
		case <-ctx.Done():
		}
	}()
	go func() {
		defer close(link.settled)
		s.giveState(ctx, snd)
		s.giveCounters(ctx, snd) // metrics_handover.go
		s.mu.Lock()
		link.sender = snd
		s.mu.Unlock()
	}()
	return link
}

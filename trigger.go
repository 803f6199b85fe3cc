//go:build !windows

package handoff

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/metrics"
)

// The newest trigger wins. An upgrade request (SIGHUP, SIGUSR2, Upgrade)
// that arrives while an upgrade runs, at any stage (starting, waiting for
// ready, probation), is a deploy of whatever is on disk now: the running
// upgrade may have looked the program up before the file was replaced. So
// it is neither dropped nor merged into the running one: it queues one
// follow-up upgrade, which looks the program up again once the running one
// ends. Any number of requests that arrive meanwhile share that one
// follow-up (each would find the same program on disk).
//
// Where the follow-up runs depends on how the running upgrade ended:
//   - it failed or rolled back: this generation still serves, and the
//     follow-up runs here;
//   - it succeeded: the new generation serves and this one drains, so the
//     follow-up is the new generation's to run. It is passed on as SIGHUP
//     at cutover, before this generation drains (and may exit), if the new
//     generation said in its READY=1 that it upgrades on SIGHUP
//     (readyUpgradesOnHUP); the callers learn ErrPassedOn. So is every
//     trigger that reaches this generation after that;
//   - this generation stopped: the follow-up ends with ErrStopped.
//
// One goroutine runs the upgrades of a chain, one after another; the queue
// below is all the state the triggers share with it.

// readyUpgradesOnHUP is the field a self-upgrading generation adds to its
// READY=1 datagram when SIGHUP upgrades it (its signals are not left to the
// program, Options.NoSignals): only then may its parent pass a queued
// upgrade on to it as SIGHUP, which would kill a program that does not
// handle it.
const readyUpgradesOnHUP = "X_HANDOFF_UPGRADES_ON_HUP"

// upgradeQueue is the running upgrade and the follow-up queued behind it.
type upgradeQueue struct {
	mu      sync.Mutex
	running bool        // an upgrade runs (runUpgrades is alive)
	next    *upgradeRun // the follow-up; nil when none is queued
	// successor is the new generation this one handed over to, set at
	// cutover: from then on every trigger is passed on to it.
	successor *handedTo
}

// handedTo is the generation that took over from this one.
type handedTo struct {
	gen   int
	proc  newGeneration
	onHUP bool // it said it upgrades on SIGHUP (readyUpgradesOnHUP)
}

// upgradeRun is one upgrade, and everyone waiting for its outcome.
type upgradeRun struct {
	done    chan struct{} // closed once rep and err are final
	callers int           // triggers that share it (guarded by upgradeQueue.mu)
	rep     UpgradeReport
	err     error
	// takeover, when set, is the channel of a newcomer that asked for a
	// takeover (takeover_serve.go): the run hands over to it instead of
	// starting a child.
	takeover *handover.Sender
}

func newRun() *upgradeRun { return &upgradeRun{done: make(chan struct{}), callers: 1} }

func (r *upgradeRun) finish(rep UpgradeReport, err error) {
	r.rep, r.err = rep, err
	close(r.done)
}

// upgrade is Handoff.UpgradeReport (documented there) on Unix.
func (c *chain) upgrade() (UpgradeReport, error) {
	if c.isSupervised {
		c.h.stats.request(metrics.ResultRefused, 1)
		return UpgradeReport{}, ErrSupervised
	}
	r, waited, err := c.trigger()
	if err != nil {
		return UpgradeReport{}, err
	}
	<-r.done
	rep := r.rep
	rep.Waited = waited
	return rep, r.err
}

// trigger starts an upgrade, or queues the follow-up behind the running
// one (waited: the caller's upgrade runs after another), or passes it on
// to the generation this one handed over to, or refuses: this generation
// is not serving and no upgrade of its runs.
func (c *chain) trigger() (r *upgradeRun, waited bool, err error) {
	q := &c.queue
	q.mu.Lock()
	if to := q.successor; to != nil {
		waited = q.running
		q.mu.Unlock()
		r = newRun()
		r.finish(c.passOn(to, 1))
		return r, waited, nil
	}
	defer q.mu.Unlock()
	if q.running {
		if q.next == nil {
			q.next = newRun()
			c.log.Info("handoff: upgrade requested while one runs: queued to run after it, with the program as it is on disk then")
		} else {
			q.next.callers++
			c.h.stats.request(metrics.ResultCoalesced, 1)
			c.log.Info("handoff: upgrade requested while one runs: joins the one already queued", "waiting", q.next.callers)
		}
		return q.next, true, nil
	}
	if p, _ := c.h.Phase(); p != PhaseServing {
		c.h.stats.request(metrics.ResultRefused, 1)
		return nil, false, fmt.Errorf("%w (%s)", ErrNotServing, p)
	}
	q.running = true
	r = newRun()
	go c.runUpgrades(r)
	return r, false, nil
}

// runUpgrades runs r, then the follow-ups queued meanwhile, one at a time.
func (c *chain) runUpgrades(r *upgradeRun) {
	q := &c.queue
	for {
		rep, err := c.runOne(r)
		c.h.stats.upgraded(err)
		q.mu.Lock()
		next := q.next
		q.next = nil
		p, _ := c.h.Phase()
		here := next != nil && p == PhaseServing
		// Before the outcome is announced: whoever hears it may ask for
		// another upgrade at once, and must not be queued behind a run
		// that is over.
		q.running = here
		q.mu.Unlock()
		r.finish(rep, err)
		if next == nil {
			return
		}
		if !here {
			// Stopped (a successor would have taken the follow-up at
			// cutover: handOver).
			if p == PhaseStopped || errors.Is(err, ErrStopped) {
				next.finish(UpgradeReport{}, ErrStopped)
			} else {
				next.finish(UpgradeReport{}, fmt.Errorf("%w (%s)", ErrNotServing, p))
			}
			return
		}
		c.log.Info("handoff: upgrade: running the queued follow-up", "requests", next.callers)
		r = next
	}
}

// handOver runs at cutover, before this generation drains (after which
// it may exit at once): from now on the generation gen (process p) is the
// one to upgrade. The follow-up queued behind this upgrade, and every
// trigger that comes later, is passed on to it.
func (c *chain) handOver(gen int, p newGeneration, onHUP bool) {
	q := &c.queue
	q.mu.Lock()
	q.successor = &handedTo{gen: gen, proc: p, onHUP: onHUP}
	next := q.next
	q.next = nil
	to := q.successor
	q.mu.Unlock()
	if next != nil {
		next.finish(c.passOn(to, next.callers))
	}
}

// passOn passes an upgrade request on to the generation that took over:
// as SIGHUP, if it said it upgrades on SIGHUP (to another program SIGHUP
// could be fatal).
func (c *chain) passOn(to *handedTo, callers int) (UpgradeReport, error) {
	pid := to.proc.pid()
	defer c.h.stats.request(metrics.ResultCoalesced, callers)
	if !to.onHUP {
		c.log.Warn("handoff: upgrade: a request is dropped: the new generation does not upgrade on SIGHUP; ask it directly",
			"generation", to.gen, "pid", pid, "requests", callers)
		return UpgradeReport{}, fmt.Errorf("%w: superseded by generation %d (pid %d), which does not upgrade on SIGHUP: ask it", ErrNotServing, to.gen, pid)
	}
	// Signal, not kill(pid): it refuses once the child is reaped, so a
	// reused pid is never signalled.
	if err := to.proc.hup(); err != nil {
		c.log.Error("handoff: upgrade: could not pass the request on to the new generation", "pid", pid, "err", err)
		return UpgradeReport{}, fmt.Errorf("%w: pass the upgrade on to generation %d (pid %d): %w", ErrNotServing, to.gen, pid, err)
	}
	c.log.Info("handoff: upgrade: the request is passed on to the new generation (SIGHUP)", "generation", to.gen, "pid", pid, "requests", callers)
	c.notifyUpstream("READY=1", launch.MainPID(pid), "STATUS=upgrade passed on to generation "+strconv.Itoa(to.gen)+" (pid "+strconv.Itoa(pid)+"), which serves")
	return UpgradeReport{PassedTo: pid}, fmt.Errorf("%w: generation %d (pid %d)", ErrPassedOn, to.gen, pid)
}

package loadgen

import (
	"context"
	"errors"
	"os"
	"time"
)

// Held connections model the long-lived, mostly idle keep-alive connections
// of real clients (browsers, pools). Each sends one request every
// HoldInterval and otherwise sits idle, blocked in a read that doubles as a
// close detector: the moment the server closes or resets the connection
// while we hold it, we know — and count it as cut — without waiting for the
// next request to fail.

type waitResult int

const (
	waitSend waitResult = iota // time for the next request (or data arrived)
	waitCut                    // the server closed or reset the idle connection
	waitStop                   // the run is ending
)

// holdWait blocks until next, until the server closes the connection, or
// until Stop wakes it.
func (cl *client) holdWait(next time.Time) waitResult {
	cl.mu.Lock()
	c := cl.c
	if cl.g.stopping.Load() || c == nil {
		cl.mu.Unlock()
		return waitStop
	}
	// Under cl.mu, so that halt either sees waiting (and cuts the wait
	// short) or we see stopping: the wake-up cannot fall in between.
	c.nc.SetReadDeadline(next)
	cl.waiting = true
	cl.mu.Unlock()

	_, err := c.br.Peek(1)

	cl.mu.Lock()
	cl.waiting = false
	cl.mu.Unlock()
	switch {
	case cl.g.stopping.Load():
		return waitStop
	case err == nil:
		// Bytes nobody asked for: send now and let the response check
		// classify whatever answers.
		return waitSend
	case errors.Is(err, os.ErrDeadlineExceeded):
		return waitSend
	}
	return waitCut
}

// runHold drives one held connection.
func (g *Generator) runHold(ctx context.Context, cl *client, sh *shard) {
	defer g.wg.Done()
	defer cl.drop()
	interval := g.cfg.HoldInterval
	next := time.Now()
	for !g.stopping.Load() {
		if cl.c != nil {
			switch cl.holdWait(next) {
			case waitStop:
				return
			case waitCut:
				// Not after a Connection: close (then cl.c would be nil):
				// the server dropped a connection it had kept alive.
				sh.cut(g.window())
				cl.drop()
			}
		}
		if cl.c == nil && !g.pause(time.Until(next)) {
			return
		}
		w := g.window()
		r := cl.do(ctx)
		if !g.finish(sh, &r, w) {
			return
		}
		if r.cut {
			sh.cut(w)
		}
		next = r.start.Add(interval)
		if r.dialFailed && g.cfg.ReconnectDelay > 0 {
			next = maxTime(next, time.Now().Add(g.cfg.ReconnectDelay))
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

//go:build !windows

package handoff

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
	"github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/takeover"
)

// The newcomer's side of a takeover (docs/TAKEOVER.md). In New, with
// Options.Takeover set and nothing inherited, this process takes the lock
// beside the path (ErrTakeoverBusy if another holds it; the serving
// process is not contacted), then connects:
//   - nobody serves there (no file, or a stale one: connect is refused
//     because the process that made it is gone): this process starts
//     first, binds fresh sockets, and listens on the path at Ready;
//   - a serving process answers: the listening sockets arrive, each with
//     its name, and Listen claims them as it claims inherited ones; the
//     same channel then carries the state blob and, after Ready, the
//     connections (predecessor.go).
//
// At Ready it says so on the channel, then replaces the path with its own
// listener and drops the lock.

// joinTakeover runs in New (openLinks), after the environment was read.
func (c *chain) joinTakeover() error {
	path := c.h.opts.Takeover
	if path == "" {
		return nil
	}
	if c.isSupervised {
		c.log.Warn("handoff: takeover: ignored under the handoff supervisor, which owns the sockets", "path", path)
		return nil
	}
	c.tk = takeover.New(path)
	if c.fromParent || c.inh.count() > 0 {
		// Started by a self-upgrade, or by systemd with its sockets:
		// nothing to take; it listens on the path at Ready.
		return nil
	}
	// The directory first: no lock file in a directory that is not ours.
	if err := takeover.CheckDir(path); err != nil {
		return fmt.Errorf("%w: %w", ErrTakeover, err)
	}
	if err := c.tk.Acquire(); err != nil {
		if errors.Is(err, takeover.ErrBusy) {
			return fmt.Errorf("%w (%s.lock is held)", ErrTakeoverBusy, path)
		}
		return fmt.Errorf("%w: %w", ErrTakeover, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	r, found, err := c.tk.Dial(ctx)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrTakeover, handoverError(err))
	case found == takeover.Nobody:
		c.log.Info("handoff: takeover: nobody serves at the path yet: this process starts first", "path", path)
	case found == takeover.Stale:
		c.log.Warn("handoff: takeover: stale socket file, its process is gone: this process starts first", "path", path)
	default:
		if err = c.receiveListeners(r); err != nil {
			r.Close()
		}
	}
	if err != nil {
		c.tk.Release()
	}
	return err
}

// receiveListeners takes the serving process's listening sockets, the
// first thing on the channel, and makes them this process's inherited
// descriptors.
func (c *chain) receiveListeners(r *handover.Receiver) error {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	r.Admit(func(meta []byte) bool { return len(meta) > 0 && meta[0] == takeover.MetaTag })
	var first takeover.SocketMeta
	for i := 0; ; i++ {
		it, err := r.Next(ctx)
		if err == nil && it.Conn == nil {
			err = fmt.Errorf("%w: takeover: a state before the listening sockets", ErrProtocol)
		}
		if err != nil {
			return fmt.Errorf("%w: receive the listening sockets: %w", ErrTakeover, handoverError(err))
		}
		m, err := takeover.DecodeSocketMeta(it.Meta)
		if err != nil {
			err = fmt.Errorf("%w: %w: %s", ErrProtocol, err, clipMeta(it.Meta))
		} else if m.Index != i || (i > 0 && m.Count != first.Count) {
			err = fmt.Errorf("%w: takeover: socket %d of %d, expected %d", ErrProtocol, m.Index, m.Count, i)
		}
		var in activation.Inherited
		if err == nil {
			in, err = adoptReceived(it.Conn, m.Name)
		}
		it.Conn.Close()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTakeover, err)
		}
		c.inh.add(in)
		if i == 0 {
			first = m
		}
		if i+1 == m.Count {
			break
		}
	}
	c.gen = first.Generation
	c.pred = newPredecessor(c.h, c.tk.String(), first.State)
	c.pred.recv = r
	c.pred.dialOnce.Do(func() {}) // the channel is this one
	c.pred.lingerAtStop = c.lingerForPredecessor
	c.joined = r
	c.log.Info("handoff: takeover: received the listening sockets", "sockets", first.Count, "generation", c.gen, "from", r.PeerPID())
	return nil
}

// adoptReceived gives a received socket a descriptor of its own, checked
// as an inherited one is (activation.Check: the kind its name announces),
// then close-on-exec.
func adoptReceived(conn net.Conn, name string) (activation.Inherited, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return activation.Inherited{}, fmt.Errorf("socket %q: no descriptor", name)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return activation.Inherited{}, fmt.Errorf("socket %q: %w", name, err)
	}
	fd := -1
	// Without close-on-exec for Check, which reads it as a sign of
	// inheritance; set right after.
	rc.Control(func(f uintptr) { fd, err = unix.FcntlInt(f, unix.F_DUPFD, 3) })
	if err != nil {
		return activation.Inherited{}, fmt.Errorf("socket %q: dup: %w", name, err)
	}
	in, err := activation.Check(activation.Passed{FD: fd, Name: name})
	if err != nil {
		unix.Close(fd)
		return activation.Inherited{}, err
	}
	unix.CloseOnExec(fd)
	return in, nil
}

// readyTakeover runs in Ready, once the predecessor's channel is up: a
// newcomer tells the serving process it is ready; then this generation
// listens on the takeover path. stepBack: the serving process gave up on
// this newcomer and serves on, so this one drains and says nothing more.
func (c *chain) readyTakeover() (errs []error, stepBack bool) {
	if c.tk == nil {
		return nil, false
	}
	defer c.tk.Release()
	if r := c.joined; r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
		err := r.Ready(ctx)
		cancel()
		if err != nil && c.tk.Alive() {
			// The serving process gave up on this one (it was not ready
			// in time) and serves on: two processes that each think they
			// took over would fight for the path. This one steps back.
			c.log.Error("handoff: takeover: the serving process gave up on this one and serves on: draining", "err", err)
			c.h.quic.stepBack() // its QUIC sockets too: never read them (quic_route_unix.go)
			c.h.Drain()
			return []error{fmt.Errorf("%w: tell the serving process: %w", ErrTakeover, handoverError(err))}, true
		}
		if err != nil {
			// Nobody listens any more: it died with the sockets passed.
			// They are this process's alone now.
			c.log.Warn("handoff: takeover: the serving process went away before it heard this one is ready: serving on alone", "err", err)
		}
	}
	if err := c.serveTakeover(); err != nil {
		c.log.Error("handoff: takeover: no takeover socket: a newcomer cannot take over from this process", "path", c.tk.String(), "err", err)
		return []error{fmt.Errorf("handoff: takeover: %w", err)}, false
	}
	return nil, false
}

// lingerForPredecessor is how long this newcomer's Stop keeps the channel
// to the process it took over from open, for that process to end it. A
// newcomer that is superseded itself (taken over or upgraded, past
// probation) can stop while that process is still in its probation window
// for it: the channel closing then looks there like a crash, and the
// process would roll back and serve again beside the one serving now. So
// it waits for the handover to finish (that process's done frame ends the
// channel; connections it passes meanwhile that this one no longer serves
// are refused and stay with it), for DrainTimeout at the most, and not
// after a second stop signal. 0: not superseded (stopped by its own
// service manager, it is a crash to the other side: that one serves on).
func (c *chain) lingerForPredecessor() time.Duration {
	h := c.h
	h.mu.Lock()
	superseded := h.superseded
	h.mu.Unlock()
	if !superseded {
		return 0
	}
	select {
	case <-h.hardStop():
		return 0
	default:
	}
	return h.opts.DrainTimeout
}

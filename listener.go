package handoff

import (
	"errors"
	"net"
	"sync"
	"time"
)

// listener is what Listen returns: the generation's accept loop runs on it,
// while the socket itself belongs to the Handoff, which may still pass it to
// a successor after the listener stopped accepting.
//
// It pauses during probation (Accept blocks; connections wait in the kernel's
// accept queue, which the successor shares and drains) and ends at the drain
// (Accept returns net.ErrClosed). A blocked Accept is woken by setting a
// deadline in the past on the inner listener, never by closing the socket.
type listener struct {
	inner    net.Listener
	deadline interface{ SetDeadline(time.Time) error }

	mu       sync.Mutex
	paused   bool
	resumed  chan struct{}
	closed   bool
	closedCh chan struct{}

	// Connections handed over by the previous generation (migrate.go):
	// Accept returns them before asking the kernel for more.
	queue    []net.Conn
	injected chan struct{} // capacity 1: wakes an Accept waiting out a pause
	woken    bool          // the inner deadline was set to wake Accept for the queue
	wrap     func(net.Conn) net.Conn
	// back serves connections handed over after Close (the drain's
	// give-back path, giveback.go): a chain's middle generation drains
	// while its predecessor still passes connections to it.
	back adopter

	// inAccept counts Accepts inside the kernel's accept; idle, when not
	// nil, is closed as it drops to 0. A deadline in the past does not
	// stop an accept the runtime already began (it checks the deadline,
	// then calls accept(2)): pause and Close wait for it to come back, so
	// that once they return this generation takes no new connection,
	// one that arrives after the cutover included.
	inAccept int
	idle     chan struct{}
}

// adopter serves connections that arrive after the listener closed.
type adopter interface {
	adopt(c net.Conn, ln string) bool
	accepting() bool
	// expect notes that c, just accepted, is on its way to net/http:
	// the drain must not end before net/http tracks it.
	expect(c net.Conn)
}

func newListener(inner net.Listener) *listener {
	d, _ := inner.(interface{ SetDeadline(time.Time) error })
	return &listener{inner: inner, deadline: d, closedCh: make(chan struct{}), injected: make(chan struct{}, 1)}
}

// Accept waits for and returns the next connection, as net.Listener
// requires. It blocks while the generation is in probation and returns an
// error wrapping net.ErrClosed once the generation drains or the listener
// is closed.
func (l *listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		closed, paused, resumed, wrap := l.closed, l.paused, l.resumed, l.wrap
		if !closed && len(l.queue) > 0 {
			c := l.queue[0]
			l.queue = l.queue[1:]
			if wrap != nil {
				c = wrap(c)
			}
			l.expectLocked(c)
			l.mu.Unlock()
			return c, nil
		}
		if l.woken {
			l.woken = false
			if !paused && !closed && l.deadline != nil {
				l.deadline.SetDeadline(time.Time{})
			}
		}
		if !closed && !paused {
			l.inAccept++
		}
		l.mu.Unlock()
		if closed {
			return nil, l.closedErr()
		}
		if paused {
			select {
			case <-resumed:
			case <-l.closedCh:
			case <-l.injected:
			}
			continue
		}
		c, err := l.inner.Accept()
		if err == nil && wrap != nil {
			c = wrap(c)
		}
		l.mu.Lock()
		if err == nil {
			l.expectLocked(c)
		}
		l.inAccept--
		if l.inAccept == 0 && l.idle != nil {
			close(l.idle)
			l.idle = nil
		}
		l.mu.Unlock()
		if err == nil {
			return c, nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue // our own wake-up; the loop re-reads the state
		}
		if l.isClosed() {
			return nil, l.closedErr()
		}
		return nil, err
	}
}

// expectLocked tells the drain that c is on its way to net/http; l.mu held.
func (l *listener) expectLocked(c net.Conn) {
	if l.back != nil {
		l.back.expect(c)
	}
}

// awaitAcceptsLocked waits until no Accept is inside the kernel's accept
// (they were woken by a deadline in the past: they return at once, with a
// connection or a timeout); l.mu held, released while waiting. Bounded, in
// case an inner listener ignores deadlines.
func (l *listener) awaitAcceptsLocked() {
	if l.deadline == nil {
		return
	}
	var timeout <-chan time.Time
	for l.inAccept > 0 {
		if l.idle == nil {
			l.idle = make(chan struct{})
		}
		idle := l.idle
		l.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(time.Second)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-idle:
		case <-timeout:
			l.mu.Lock()
			return
		}
		l.mu.Lock()
	}
}

func (l *listener) closedErr() error {
	return &net.OpError{Op: "accept", Net: l.inner.Addr().Network(), Addr: l.inner.Addr(), Err: net.ErrClosed}
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Close stops this listener's Accept. The socket stays open (it is the
// Handoff's, to pass on or to close at Stop).
func (l *listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.closedCh)
	l.wake()
	q := l.queue
	l.queue = nil
	for _, c := range q {
		// Handed over, not yet accepted: served by the drain, or, past
		// its end, closed.
		if l.back == nil || !l.back.adopt(c, l.inner.Addr().String()) {
			c.Close()
		}
	}
	l.awaitAcceptsLocked()
	return nil
}

// setBack makes connections handed over after Close go to b.
func (l *listener) setBack(b adopter) {
	l.mu.Lock()
	l.back = b
	l.mu.Unlock()
}

// takes reports whether a connection handed over now would be served:
// by Accept, or after Close by the drain's give-back path.
func (l *listener) takes() bool {
	l.mu.Lock()
	closed, back := l.closed, l.back
	l.mu.Unlock()
	return !closed || back != nil && back.accepting()
}

// inject queues a connection handed over by the previous generation for
// Accept, and wakes an Accept blocked in the kernel. Once the listener is
// closed it goes to the drain's give-back path instead; inject reports
// false (and the caller keeps c) when that is over too.
func (l *listener) inject(c net.Conn) bool {
	l.mu.Lock()
	if l.closed {
		back := l.back
		l.mu.Unlock()
		return back != nil && back.adopt(c, l.inner.Addr().String())
	}
	defer l.mu.Unlock()
	l.queue = append(l.queue, c)
	l.woken = true
	l.wake()
	select {
	case l.injected <- struct{}{}:
	default:
	}
	return true
}

// setWrap makes Accept pass every connection through wrap.
func (l *listener) setWrap(wrap func(net.Conn) net.Conn) {
	l.mu.Lock()
	l.wrap = wrap
	l.mu.Unlock()
}

// Addr returns the listener's network address.
func (l *listener) Addr() net.Addr { return l.inner.Addr() }

func (l *listener) pause() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused || l.closed {
		return
	}
	l.paused = true
	l.resumed = make(chan struct{})
	l.wake()
	l.awaitAcceptsLocked()
}

func (l *listener) resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.paused {
		return
	}
	l.paused = false
	close(l.resumed)
	if l.deadline != nil {
		l.deadline.SetDeadline(time.Time{})
	}
}

// wake interrupts an Accept blocked in the kernel; called with l.mu held.
func (l *listener) wake() {
	if l.deadline != nil {
		l.deadline.SetDeadline(time.Unix(1, 0))
	}
}

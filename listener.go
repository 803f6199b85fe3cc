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
			l.mu.Unlock()
			if wrap != nil {
				c = wrap(c)
			}
			return c, nil
		}
		if l.woken {
			l.woken = false
			if !paused && !closed && l.deadline != nil {
				l.deadline.SetDeadline(time.Time{})
			}
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
		if err == nil {
			if wrap != nil {
				c = wrap(c)
			}
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
	for _, c := range l.queue {
		c.Close() // handed over too late to serve: the client sees a close
	}
	l.queue = nil
	return nil
}

// inject queues a connection handed over by the previous generation for
// Accept, and wakes an Accept blocked in the kernel. It reports false (and
// the caller keeps c) once the listener is closed.
func (l *listener) inject(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
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

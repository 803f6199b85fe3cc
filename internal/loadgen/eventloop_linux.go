//go:build linux

package loadgen

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The event loop: each evLoop is one goroutine driving its share of the busy
// clients over non-blocking sockets and an epoll instance of its own, one
// request in flight per connection (no pipelining, like wrk). Sockets are
// registered once, edge-triggered, for input and output, so that the hot
// path is the idle-close peek, one send, usually one read, and a share of
// an epoll_pwait that serves every connection ready at the time: no
// epoll_ctl per request, no goroutine parked and woken per request. The
// connection state machine is in eventloop_conn_linux.go, how the loop
// waits in eventloop_wait_linux.go.

// maxWait bounds one wait, so that a loop looks at its timers at least
// this often even if its bookkeeping were wrong.
const maxWait = time.Second

// evLoop is one event loop and everything only its goroutine touches.
type evLoop struct {
	g      *Generator
	sa     unix.Sockaddr
	family int
	epfd   int
	conns  []*evConn
	events []unix.EpollEvent

	// The epoll descriptor as the runtime's poller sees it, for wait
	// (eventloop_wait_linux.go).
	epf    *os.File
	epRC   syscall.RawConn
	waitFn func(fd uintptr) bool // bound once, so that waiting allocates nothing
	waitN  int                   // waitFn's results
	waitE  error
	armed  int64 // the deadline set on epf, ns since start; 0 if none

	// runq holds connections whose next request starts on the next turn
	// (spare is the other buffer of the pair). Starting them after the
	// turn's events, rather than from inside a completion, keeps the stack
	// flat however many responses a server sends at once.
	runq, spare []*evConn
	// live counts connections not finished; the loop ends at zero.
	live int
	// nextCheck (ns since the generator's start) is no later than any
	// request deadline or reconnect time: the timers are scanned only when
	// it has passed, so most turns cost no scan.
	nextCheck int64

	ev   unix.EpollEvent // scratch for epoll_ctl, so that it does not escape
	peek [1]byte         // scratch for peerClosed

	// mu guards wakeFD and closed: wake is called from other goroutines
	// (Stop, the context's abort) and must never write to a descriptor the
	// loop has closed, which the process may have reused.
	mu     sync.Mutex
	wakeFD int
	closed bool
}

// wakeData marks the wake-up eventfd in epoll events; connections use
// their index (>= 0).
const wakeData = -1

// startEventLoops starts the event loops for the busy clients and reports
// whether it did; if not (another platform, a host name, an engine forced
// by a test, or no descriptors left), the caller starts goroutines.
func (g *Generator) startEventLoops() bool {
	if g.engine != engineAuto || len(g.busy) == 0 {
		return false
	}
	if _, _, ok := sockaddrOf(g.target.addr); !ok {
		return false
	}
	n := g.loopCount
	if n <= 0 {
		n = defaultLoops(runtime.GOMAXPROCS(0))
	}
	n = min(n, len(g.busy))
	loops := make([]*evLoop, 0, n)
	for range n {
		l, err := newEvLoop(g)
		if err != nil {
			for _, l := range loops {
				l.close()
			}
			return false
		}
		loops = append(loops, l)
	}
	for i, cl := range g.busy {
		loops[i%n].add(cl, g.shards[i])
	}
	for _, l := range loops {
		g.loops = append(g.loops, l)
		g.wg.Add(1)
		go l.run()
	}
	return true
}

// defaultLoops is how many event loops drive the busy clients with procs
// Ps: one per two. The server under test usually shares the machine and
// needs the rest (measured on 2 CPUs, one loop for 64 connections did at
// least as well as two, and used less CPU), and one loop drives tens of
// thousands of requests a second.
func defaultLoops(procs int) int { return max(1, procs/2) }

// newEvLoop creates a loop's epoll instance and its wake-up eventfd, for
// a target whose address sockaddrOf accepts. Each loop has a Sockaddr of its
// own: connect(2) formats it in place.
func newEvLoop(g *Generator) (*evLoop, error) {
	sa, family, ok := sockaddrOf(g.target.addr)
	if !ok {
		return nil, fmt.Errorf("loadgen: %q is not an IP address and port", g.target.addr)
	}
	l := &evLoop{g: g, sa: sa, family: family, epfd: -1, wakeFD: -1, events: make([]unix.EpollEvent, 256)}
	if err := l.openPoller(); err != nil {
		l.close()
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		l.close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	l.wakeFD = wfd
	// Level-triggered: a wake-up written before the loop first waits is
	// still reported.
	l.ev = unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeData}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, wfd, &l.ev); err != nil {
		l.close()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return l, nil
}

// add gives the loop one client, recording into sh.
func (l *evLoop) add(cl *client, sh *shard) {
	c := &evConn{l: l, cl: cl, sh: sh, idx: int32(len(l.conns)), fd: -1, buf: make([]byte, 4096)}
	l.conns = append(l.conns, c)
	l.live++
}

// wake ends the loop's current wait, so that it sees that the run is
// stopping or aborted. Safe from any goroutine, before, during and after
// run.
func (l *evLoop) wake() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		one := [8]byte{1}
		unix.Write(l.wakeFD, one[:])
	}
}

// close releases every descriptor the loop holds.
func (l *evLoop) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		if l.wakeFD >= 0 {
			unix.Close(l.wakeFD)
		}
	}
	l.mu.Unlock()
	for _, c := range l.conns {
		c.closeFD()
	}
	l.closePoller()
}

// run drives the loop's clients until every one has finished: after Stop,
// each finishes its request in flight (bounded by Config.Timeout) and
// starts no other; after an abort the loop closes everything at once and
// records nothing more.
func (l *evLoop) run() {
	defer l.g.wg.Done()
	defer l.close()
	l.nextCheck = math.MaxInt64
	for _, c := range l.conns {
		l.queue(c)
	}
	for {
		if l.g.aborted.Load() {
			return
		}
		l.startQueued()
		if l.live == 0 {
			return
		}
		n, err := l.wait()
		if err != nil {
			// Cannot happen with a valid epoll descriptor; if it does,
			// say so on every request in flight rather than hang.
			l.failAll(err)
			return
		}
		for i := range n {
			ev := &l.events[i]
			if ev.Fd == wakeData {
				l.onWake()
				continue
			}
			if c := l.conns[ev.Fd]; c.gen == ev.Pad {
				c.onEvent(ev.Events)
			}
		}
		l.checkTimers()
	}
}

// queue makes c start its next request on the loop's next turn.
func (l *evLoop) queue(c *evConn) {
	c.state = connQueued
	l.runq = append(l.runq, c)
}

// startQueued starts every queued connection's next request; those queued
// meanwhile wait for the next turn.
func (l *evLoop) startQueued() {
	q := l.runq
	l.runq = l.spare[:0]
	for _, c := range q {
		if c.state == connQueued {
			c.startRequest()
		}
	}
	l.spare = q[:0]
}

// due notes a deadline or reconnect time t (ns since start).
func (l *evLoop) due(t int64) {
	if t < l.nextCheck {
		l.nextCheck = t
	}
}

// checkTimers times out requests past their deadline and requeues
// connections whose reconnect pause is over.
func (l *evLoop) checkTimers() {
	now := l.g.since()
	if now < l.nextCheck {
		return
	}
	l.nextCheck = now + int64(maxWait)
	for _, c := range l.conns {
		switch c.state {
		case connConnecting, connWriting, connReading:
			if now >= c.deadline {
				c.timeout(now)
			} else {
				l.due(c.deadline)
			}
		case connPaused:
			if now >= c.deadline {
				l.queue(c)
			} else {
				l.due(c.deadline)
			}
		}
	}
}

// onWake drains the eventfd; once the run is stopping, connections waiting
// to reconnect finish at once instead of at their next start.
func (l *evLoop) onWake() {
	var b [8]byte
	unix.Read(l.wakeFD, b[:])
	if !l.g.stopping.Load() {
		return
	}
	for _, c := range l.conns {
		if c.state == connPaused {
			c.finish()
		}
	}
}

// failAll ends every request in flight with err and finishes every
// connection.
func (l *evLoop) failAll(err error) {
	for _, c := range l.conns {
		switch c.state {
		case connConnecting, connWriting, connReading:
			c.fail(err)
		}
		if c.state != connDone {
			c.finish()
		}
	}
}

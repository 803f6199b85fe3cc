//go:build linux

package loadgen

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How an event loop waits. It never blocks a thread in epoll_wait: it asks
// its epoll instance for events without waiting (yielding the CPU between a
// few such looks), and only when there are none parks its goroutine on the
// runtime's own poller, in which the epoll descriptor is registered (it
// becomes readable when any of its sockets, or the wake-up eventfd, has an
// event). A thread blocked in a system call makes sysmon take its P away
// and poll every 20 µs while it does so: with the loops blocking in
// epoll_wait, sysmon used about a quarter of the load generator's CPU time,
// time the server under test could have had, and measured throughput was
// lower. Parking costs one extra non-blocking epoll_wait per wait, and
// nothing while the loop is busy.

// yieldsBeforePark bounds how often wait gives up the CPU (sched_yield)
// and looks again before it parks. When the server under test shares the
// machine, the server thread that our last requests woke is often queued on
// this very CPU: yielding lets it run, its responses then find us runnable
// instead of asleep, and neither side pays for a sleep and a wake-up. On 2
// CPUs against examples/hello this took the server's CPU time per request
// from ~28 to ~26 µs (wrk's figure) and the loop from 0.98 to 1.02 of wrk's
// rate; more yields only cost the loop CPU. With nothing else runnable here
// (a remote server) a yield returns at once: the cost is a few µs per park.
const yieldsBeforePark = 4

// openPoller creates the loop's epoll instance and hands it to the
// runtime's poller (it must be non-blocking for os.NewFile to do so).
func (l *evLoop) openPoller() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return os.NewSyscallError("fcntl", err)
	}
	l.epfd = epfd
	l.epf = os.NewFile(uintptr(epfd), "loadgen-epoll")
	if l.epRC, err = l.epf.SyscallConn(); err != nil {
		return err
	}
	l.waitFn = func(fd uintptr) bool {
		l.waitN, l.waitE = epollNow(int(fd), l.events)
		return l.waitN > 0 || l.waitE != nil // false: park until readable
	}
	return nil
}

// closePoller closes the epoll instance (through its os.File, which also
// takes it out of the runtime's poller).
func (l *evLoop) closePoller() {
	if l.epf != nil {
		l.epf.Close()
		l.epf = nil
	} else if l.epfd >= 0 {
		unix.Close(l.epfd)
	}
	l.epfd = -1
}

// wait returns the number of events it put in l.events: at once if some
// are ready, if requests are queued to start, or if a timer is due;
// otherwise it parks until there are events or the next timer.
func (l *evLoop) wait() (int, error) {
	if len(l.runq) > 0 || !l.arm() {
		return epollNow(l.epfd, l.events)
	}
	for range yieldsBeforePark {
		unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		if n, err := epollNow(l.epfd, l.events); n > 0 || err != nil {
			return n, err
		}
	}
	switch err := l.epRC.Read(l.waitFn); {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return 0, nil // a timer is due
	case err != nil:
		return 0, err
	}
	return l.waitN, l.waitE
}

// arm makes sure the poller's deadline is no later than the next timer,
// and reports false if that is due already. Moving a deadline costs a
// runtime timer update, so an earlier one still pending is kept: waking
// early only costs a look at the timers.
func (l *evLoop) arm() bool {
	now := l.g.since()
	next := min(l.nextCheck, now+int64(maxWait))
	if next <= now {
		return false
	}
	if l.armed <= now || l.armed > next {
		l.armed = next
		l.epf.SetReadDeadline(l.g.t0.Add(time.Duration(next)))
	}
	return true
}

// epollNow collects ready events without waiting. epoll_pwait rather than
// epoll_wait, which some architectures lack; RawSyscall since it cannot
// block.
func epollNow(epfd int, events []unix.EpollEvent) (int, error) {
	for {
		n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))),
			uintptr(len(events)), 0, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, os.NewSyscallError("epoll_pwait", e)
	}
}

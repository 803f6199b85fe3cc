//go:build unix

package supervisor

import (
	"os"
	"strconv"
	"time"

	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/sdnotify"
)

// receive reads w's notify socket until it is closed (when w exits) and
// hands each datagram to the loop. Receive closes fds that came along, so
// BARRIER=1 senders (systemd-notify) return at once.
//
// The sender's lineage is checked here, before the next datagram is read:
// systemd-notify waits for its BARRIER=1 (the next datagram) to be
// received, so it is still alive, and checkable, now.
func (s *Supervisor) receive(w *worker) {
	for {
		d, err := w.recv.Receive()
		if err != nil {
			return
		}
		lin := checkLineage(d.PID, w.pid())
		s.post(func() { s.onNotify(w, d, lin) })
	}
}

// onNotify applies one sd_notify datagram, as systemd would for a service
// with NotifyAccess=all: the sender may be the worker or any descendant.
//
// A sender of another uid than ours (a worker that dropped privileges, or
// anyone who found the socket's name) counts only as a live descendant of
// the worker, as the kernel vouches for its pid (notify_socket.go).
func (s *Supervisor) onNotify(w *worker, d sdnotify.Datagram, lin lineage) {
	if d.Err != nil {
		s.rejectNotify(w, "handoff: malformed notification", "generation", w.gen.n, "pid", d.PID, "err", d.Err)
		return
	}
	if lin == lineageNo {
		s.rejectNotify(w, "handoff: notification from a process outside the worker ignored", "pid", d.PID, "worker", w.pid())
		return
	}
	if d.UID >= 0 && d.UID != os.Getuid() && lin != lineageYes {
		s.rejectNotify(w, "handoff: notification from another uid ignored: not a live descendant of the worker", "pid", d.PID, "uid", d.UID, "worker", w.pid())
		return
	}
	if !w.alive() {
		return
	}
	m := d.Msg
	s.log.Debug("handoff: notification", "generation", w.gen.n, "worker", w.pid(), "from", d.PID, "msg", string(m.Bytes()))
	if pid, ok := launch.ParseMainPID(m); ok {
		if id, ok := identifyMain(pid, w.pid()); ok {
			w.mainPID, w.main = pid, id
		} else {
			s.rejectNotify(w, "handoff: MAINPID= ignored: not a live descendant of the worker", "mainpid", pid, "worker", w.pid())
		}
	}
	if v, ok := m.Get("STATUS"); ok {
		w.status = v
	}
	if v, ok := m.Get("ERRNO"); ok {
		w.errno, _ = strconv.Atoi(v)
	}
	if v, ok := m.Get("EXTEND_TIMEOUT_USEC"); ok && w.state == workerStarting {
		if us, err := strconv.ParseInt(v, 10, 64); err == nil && us > 0 {
			if t := time.Now().Add(time.Duration(us) * time.Microsecond); t.After(w.deadline) {
				w.deadline = t
			}
		}
	}
	if v, ok := m.Get("WATCHDOG"); ok {
		switch v {
		case "1":
			w.lastPing = time.Now()
		case "trigger":
			s.fail(w, "watchdog triggered by the worker (WATCHDOG=trigger)")
			return
		}
	}
	ready, err := launch.CheckReady(m)
	if err != nil {
		s.fail(w, "ready, but "+err.Error())
		return
	}
	if ready {
		s.noteHandover(w, m)
		s.markReady(w, "READY=1")
	}
}

// checkWatchdogs kills ready workers that stopped pinging (--watchdog);
// their exit is then handled as a crash, so they are restarted.
func (s *Supervisor) checkWatchdogs() {
	if s.cfg.Watchdog <= 0 {
		return
	}
	for _, w := range s.slots {
		if w != nil && w.state == workerReady && time.Since(w.lastPing) > s.cfg.Watchdog {
			s.fail(w, "watchdog: no WATCHDOG=1 for "+s.cfg.Watchdog.String())
		}
	}
}

// rejectNotify logs a refused notification, at most once per
// rejectInterval per worker: a sender that floods the socket with garbage
// costs a line a second, not a line a datagram. The next line says how
// many were not logged meanwhile.
func (s *Supervisor) rejectNotify(w *worker, msg string, attrs ...any) {
	now := time.Now()
	if !w.rejectLogged.IsZero() && now.Sub(w.rejectLogged) < rejectInterval {
		w.rejectSuppressed++
		return
	}
	if w.rejectSuppressed > 0 {
		attrs = append(attrs, "not_logged_before", w.rejectSuppressed)
	}
	w.rejectLogged, w.rejectSuppressed = now, 0
	s.log.Warn(msg, attrs...)
}

const rejectInterval = time.Second

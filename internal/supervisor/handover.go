//go:build unix

package supervisor

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/sdnotify"
)

// The supervisor's whole part in the handover channel (internal/handover):
// it introduces a worker to the one it replaces, and nothing more. The old
// worker announces its socket in READY=1 (proto.HandoverField); when an
// upgrade starts a worker for the same slot, the supervisor passes that
// path and the old worker's pid to it (proto.EnvHandover and friends). The
// two then talk directly and check each other's credentials from the
// kernel, so a supervisor that merely relays a path can neither forge nor
// intercept anything, and needs no understanding of what is moved.

// maxSocketPath is the longest path a unix socket address can hold:
// sun_path less its terminating NUL (107 bytes on Linux, 103 on darwin and
// the BSDs). A longer one could never be dialled.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// checkHandoverPath says why path cannot be relayed, or "" when it can.
// Only what would make the path unusable for any successor is checked; that
// the socket exists and answers is the successor's to find out.
func checkHandoverPath(path string) string {
	switch {
	case strings.IndexByte(path, 0) >= 0:
		return "it contains a NUL byte"
	case !filepath.IsAbs(path):
		// A relative path would be resolved against the successor's
		// working directory, which is not the announcer's business.
		return "it is not absolute"
	case len(path) > maxSocketPath:
		return fmt.Sprintf("it is %d bytes long; a unix socket address holds at most %d", len(path), maxSocketPath)
	}
	return ""
}

// noteHandover records what w's READY=1 datagram m announces for its
// successor. Each READY=1 replaces the previous announcement, so a worker
// can also withdraw one. A bad announcement is only warned about: the
// worker serves fine without a handover, so it must not cost it its life.
func (s *Supervisor) noteHandover(w *worker, m sdnotify.Message) {
	path, _ := m.Get(proto.HandoverField)
	state, _ := m.Get(proto.StateField)
	w.handover, w.handoverState = "", false
	if path == "" {
		if state == "1" {
			s.log.Warn("handoff: worker announced "+proto.StateField+"=1 without "+proto.HandoverField+"; its successor will not be introduced",
				"generation", w.gen.n, "pid", w.pid())
		}
		return
	}
	if why := checkHandoverPath(path); why != "" {
		s.log.Warn("handoff: worker announced a handover socket that cannot be relayed; its successor will not be introduced",
			"generation", w.gen.n, "pid", w.pid(), "path", path, "reason", why)
		return
	}
	w.handover, w.handoverState = path, state == "1"
}

// handoverEnv introduces a worker about to start in slot to the worker that
// holds the slot now, if that one is ready, alive and announced a handover
// socket: it returns the introduction for the new worker's environment and
// the pid it names (0 and the zero Handover when there is nobody to
// introduce). A slot whose worker crashed, the first generation, and a slot
// emptied by a stop or WINCH have no live predecessor, so a worker started
// there never gets the path of a process that is gone.
//
// A rollback is the exception: the slot's worker died in probation, and the
// worker it replaced, drained at cutover, is still alive and holds the
// state and the connections. The rollback worker is introduced to it (see
// drainingPredecessor), so it starts with the state blob the dead worker
// got, and the drain hands its idle connections to it.
//
// A newcomer of a takeover that has no worker of its own in slot yet (its
// first generation) introduces the worker to the serving supervisor's
// worker of that slot instead (introduced, takeover_intro.go).
func (s *Supervisor) handoverEnv(slot int) (int, launch.Handover) {
	if pid, h := s.ownHandover(slot); pid != 0 {
		return pid, h
	}
	return s.introduced(slot)
}

// ownHandover is handoverEnv among this supervisor's own workers.
func (s *Supervisor) ownHandover(slot int) (int, launch.Handover) {
	old := s.slots[slot]
	if old != nil && old.watched && (!old.alive() || old.proc.Exited()) {
		old = s.drainingPredecessor(slot, old)
	}
	if old == nil || old.proc.Exited() || old.handover == "" {
		return 0, launch.Handover{}
	}
	if old.state != workerReady && (old.state != workerDraining || old == s.slots[slot]) {
		return 0, launch.Handover{}
	}
	// The process at the other end of the socket: the worker, or the main
	// process it named with MAINPID= (a wrapper's child, say), which is
	// the one systemd would consider the service.
	pid := old.pid()
	if old.mainPID > 0 {
		pid = old.mainPID
	}
	return pid, launch.Handover{Path: old.handover, PID: pid, State: old.handoverState}
}

// drainingPredecessor returns the newest worker of slot older than dead
// that drains, is alive and announced a handover socket, or nil.
func (s *Supervisor) drainingPredecessor(slot int, dead *worker) *worker {
	var best *worker
	for _, g := range s.gens {
		if g == dead.gen || g.n > dead.gen.n {
			continue
		}
		for _, w := range g.workers {
			if w.slot != slot || w.state != workerDraining || w.proc.Exited() || w.handover == "" {
				continue
			}
			if best == nil || w.gen.n > best.gen.n {
				best = w
			}
		}
	}
	return best
}

//go:build unix

package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	channel "github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/takeover"
)

// The workers' handover across two supervisors (docs/TAKEOVER.md "The
// workers' handover across the two supervisors"). After the sockets, the
// serving supervisor sends the newcomer an introduction per slot of its
// ready workers (takeover.Intro: the handover socket the worker announced,
// the pid at the other end, the state flag), as the state blob that the
// sockets' flags announce. The newcomer gives each to the worker its first
// generation starts in that slot, exactly as handoverEnv introduces a
// worker to its predecessor within one supervisor: the two workers then
// talk directly, and the serving supervisor's drain (takenOver) moves the
// idle keep-alive connections to the newcomer's workers.
//
// The old worker accepts them although they do not descend from its
// supervisor: a supervisor with a takeover path tells its workers so
// (launch.Child.SuccessorByUID, proto.EnvHandoverPeer), the uid being the
// takeover's own trust.
//
// Nothing here can fail a takeover: a blob the newcomer cannot use costs
// the introductions (the old workers then drain with Connection: close), a
// bad entry only its slot. The serving side never waits for the blob's
// verdict, so a newcomer that does not read it (a build without
// introductions) takes over as before.

// introductions returns the introduction of each slot's ready worker that
// announced a handover socket. It runs on the loop.
func (s *Supervisor) introductions() []takeover.Intro {
	var out []takeover.Intro
	for slot := range s.slots {
		if pid, h := s.ownHandover(slot); pid != 0 {
			out = append(out, takeover.Intro{Slot: slot, PID: h.PID, State: h.State, Path: h.Path})
		}
	}
	return out
}

// sendIntroductions streams intros to the newcomer on a goroutine of its
// own, so that the wait for the newcomer's ready frame goes on meanwhile;
// the channel it returns is closed once SendState has returned (ctx, or
// snd's Close, ends it).
func (s *Supervisor) sendIntroductions(ctx context.Context, snd *channel.Sender, intros []takeover.Intro) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := snd.SendState(ctx, takeover.IntroVersion, bytes.NewReader(takeover.EncodeIntros(intros)))
		switch {
		case err == nil:
			s.log.Info("handoff: takeover: introduced this supervisor's workers to the newcomer", "workers", len(intros))
		case errors.Is(err, channel.ErrRefused):
			s.log.Warn("handoff: takeover: the newcomer refused the introductions: the workers drain with Connection: close", "err", err)
		default:
			// A newcomer that does not read them (a build without
			// introductions) closes the channel once it is ready.
			s.log.Info("handoff: takeover: the introductions were not read: the workers drain with Connection: close", "err", err)
		}
	}()
	return done
}

// receiveIntroductions reads the serving supervisor's introductions, the
// state blob after the sockets, and returns those this supervisor can
// relay, by slot. Whatever is wrong is warned about and ignored.
func (s *Supervisor) receiveIntroductions(ctx context.Context, r *channel.Receiver) map[int]launch.Handover {
	const cost = "its workers' connections will drain instead of moving"
	it, err := r.Next(ctx)
	if err != nil {
		s.log.Warn("handoff: takeover: no introductions of the serving supervisor's workers: "+cost, "err", err)
		return nil
	}
	if it.State == nil {
		if it.Conn != nil {
			it.Conn.Close()
		}
		s.log.Warn("handoff: takeover: the serving supervisor sent something else than the introductions it announced: " + cost)
		return nil
	}
	st := it.State
	refuse := func(why string) map[int]launch.Handover {
		s.log.Warn("handoff: takeover: the serving supervisor's introductions refused: "+cost, "reason", why)
		st.Refuse(why)
		return nil
	}
	if st.Version != takeover.IntroVersion {
		return refuse(fmt.Sprintf("a state blob of version %#x, not introductions (%#x)", st.Version, takeover.IntroVersion))
	}
	if k := r.KernelPID(); k >= 0 && k != r.PeerPID() {
		// The workers' pids are the serving supervisor's namespace's:
		// nothing here could check them (nor, most likely, reach their
		// sockets' paths, in its mount namespace).
		return refuse(fmt.Sprintf("the serving supervisor runs in another pid namespace (pid %d there, %d here)", r.PeerPID(), k))
	}
	b, err := io.ReadAll(io.LimitReader(st, takeover.MaxIntroSize+1))
	if err != nil {
		s.log.Warn("handoff: takeover: the serving supervisor's introductions did not arrive: "+cost, "err", err)
		return nil
	}
	if len(b) > takeover.MaxIntroSize {
		return refuse(fmt.Sprintf("over %d bytes", takeover.MaxIntroSize))
	}
	intros, err := takeover.DecodeIntros(b)
	if err != nil {
		return refuse(err.Error())
	}
	out := make(map[int]launch.Handover)
	for _, in := range intros {
		why := checkHandoverPath(in.Path)
		switch {
		case why != "":
		case in.PID <= 0:
			why = fmt.Sprintf("pid %d", in.PID)
		case in.Slot >= s.cfg.Workers:
			s.log.Info("handoff: takeover: the serving supervisor's worker has no slot here (fewer --workers): it drains with Connection: close", "slot", in.Slot, "pid", in.PID)
			continue
		case out[in.Slot].Path != "":
			why = "a second introduction for the slot"
		}
		if why != "" {
			s.log.Warn("handoff: takeover: an introduction ignored: that slot's connections will drain instead of moving", "slot", in.Slot, "pid", in.PID, "path", in.Path, "reason", why)
			continue
		}
		out[in.Slot] = launch.Handover{Path: in.Path, PID: in.PID, State: in.State}
	}
	if err := st.Accept(); err != nil {
		s.log.Warn("handoff: takeover: accept the introductions", "err", err)
	}
	s.log.Info("handoff: takeover: the serving supervisor introduced its workers", "workers", len(out))
	return out
}

// introduced returns the serving supervisor's introduction for slot while
// this newcomer starts its first generation (takeoverReady forgets them),
// or 0 and the zero Handover.
func (s *Supervisor) introduced(slot int) (int, launch.Handover) {
	if s.tk == nil {
		return 0, launch.Handover{}
	}
	h, ok := s.tk.intros[slot]
	if !ok {
		return 0, launch.Handover{}
	}
	return h.PID, h
}

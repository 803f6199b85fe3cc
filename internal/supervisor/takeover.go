//go:build unix

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	channel "github.com/handoff-go/handoff/internal/handover"
	"github.com/handoff-go/handoff/internal/launch"
	"github.com/handoff-go/handoff/internal/sockets"
	"github.com/handoff-go/handoff/internal/takeover"
)

// A supervisor takeover (Config.Takeover, docs/TAKEOVER.md "Under the
// supervisor"): a second, independently started supervisor takes the
// listening sockets from the one that serves, over a unix socket at a path
// both were given, with the library's rendezvous (internal/takeover: the
// path checks, the lock, the atomic replacement of the listener) and its
// wire format (internal/handover: one acknowledged batch of descriptors
// tagged 'l' with their --listen names, then the ready frame).
//
//   - The newcomer, in New: takes the lock (ErrTakeoverBusy if another
//     holds it), connects, receives the sockets and binds none of the
//     --listen entries it received (an entry it did not receive is bound
//     as usual), numbers its generations after the serving one's (the
//     records carry the next number: a worker's generation tags its QUIC
//     connection IDs, and two alike would take each other's datagrams),
//     then reads the introductions. It starts its workers;
//     once its first generation is ready, it says ready on the channel,
//     replaces the path with its own listener, drops the lock, and only
//     then sends READY=1 to systemd.
//   - The serving supervisor: sends the sockets (it keeps its copies and
//     serves on) and its workers' introductions, waits for the ready
//     frame within its ReadyTimeout, then drains every worker, as at its
//     own stop but telling systemd only STATUS= (not STOPPING=1: the
//     newcomer serves now), and exits 0. A
//     newcomer that dies, closes the channel or is not ready in time is
//     aborted: this supervisor never stopped serving.
//
// The workers' own connection handover (HANDOFF_HANDOVER_*) crosses the
// two supervisors (takeover_intro.go): after the sockets, the serving
// supervisor introduces its ready workers, one per slot, and the
// newcomer's first generation connects to them as a same-supervisor
// upgrade's would, so the drain moves their idle keep-alive connections
// and their state blobs. The old workers accept those successors by uid
// (their supervisor ran with a takeover path: launch.Child.SuccessorByUID),
// not by lineage. Without an introduction (a worker that announced no
// socket, a newcomer in another pid namespace or of a build without them)
// the old workers drain with Connection: close.

// ErrTakeoverBusy is New's error when another process holds the takeover
// lock: it is taking over (or starting first) right now. The serving
// supervisor was not contacted.
var ErrTakeoverBusy = errors.New("takeover: another process is taking over")

// ErrTakenOver ends Run when this supervisor, a newcomer, gave up: the
// serving one was no longer waiting for it when its workers got ready.
var ErrTakenOver = errors.New("takeover failed")

// takeoverTimeout bounds connecting, the socket batch and the ready frame.
const takeoverTimeout = 5 * time.Second

// takeoverSide is this supervisor's part in a takeover path.
type takeoverSide struct {
	path *takeover.Path
	recv *channel.Receiver // the channel from the serving supervisor, until ready
	// The channels of newcomers being served, so that release can end
	// them (and wait) before it closes the sockets they lend.
	mu      sync.Mutex
	senders map[*channel.Sender]bool
	closed  bool
	wg      sync.WaitGroup

	// Owned by the loop.
	busy       bool // a newcomer is being served
	superseded bool // a newcomer took over: leave the path and unix socket files alone
	// The serving supervisor's introductions of its workers, by slot,
	// for this newcomer's first generation (takeover_intro.go); nil
	// once it is ready.
	intros map[int]launch.Handover
	// resumed is the listener a self-upgrade handed over
	// (selfstate_linux.go), until Run serves it again.
	resumed *net.UnixListener
}

// joinTakeover takes the lock and, when a supervisor serves at the path,
// its sockets, by the index of the spec each serves. Nobody (or a stale
// file) there: nil, and this supervisor starts first.
func (s *Supervisor) joinTakeover(specs []ListenSpec) (map[int]*boundSocket, error) {
	path := s.cfg.Takeover
	if path == "" {
		return nil, nil
	}
	if err := takeover.CheckDir(path); err != nil {
		return nil, configError("%v", err)
	}
	p := takeover.New(path)
	if err := p.Acquire(); err != nil {
		if errors.Is(err, takeover.ErrBusy) {
			return nil, fmt.Errorf("handoff: %w (%s.lock is held)", ErrTakeoverBusy, path)
		}
		return nil, fmt.Errorf("handoff: %w", err)
	}
	s.tk = &takeoverSide{path: p}
	ctx, cancel := context.WithTimeout(context.Background(), takeoverTimeout)
	defer cancel()
	r, found, err := p.Dial(ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("handoff: takeover: %w", err)
	case found == takeover.Nobody:
		s.log.Info("handoff: takeover: nobody serves at the path yet: this supervisor starts first", "path", path)
		return nil, nil
	case found == takeover.Stale:
		s.log.Warn("handoff: takeover: stale socket file, its process is gone: this supervisor starts first", "path", path)
		return nil, nil
	}
	got, introduced, gen, err := s.receiveSockets(ctx, r, specs)
	if err != nil {
		r.Close()
		for _, b := range got {
			b.close()
		}
		return nil, fmt.Errorf("handoff: takeover: %w", err)
	}
	// Number this supervisor's generations after the serving one's, as a
	// library newcomer does (takeover_join.go): an old worker's generation
	// is the tag in its QUIC connection IDs, and the newcomer's first
	// worker, which takes its routing link and key, must not carry the
	// same one, or it reads the old worker's datagrams as its own and
	// drops them (quicroute: "generation 1 is this conn's own").
	if gen-1 > s.lastGen {
		s.lastGen = gen - 1
	}
	if introduced {
		s.tk.intros = s.receiveIntroductions(ctx, r)
	}
	s.tk.recv = r
	s.log.Info("handoff: takeover: received the listening sockets", "sockets", len(got), "from", r.PeerPID(), "generation", s.lastGen+1)
	return got, nil
}

// receiveSockets reads the batch of sockets and matches each to the
// unclaimed spec of its name and kind; one that matches none is closed
// (the serving supervisor listened on something this one does not).
// introduced: the records say a state blob follows, the serving
// supervisor's introductions of its workers (takeover_intro.go). gen is
// the generation number the records give this supervisor's first one.
func (s *Supervisor) receiveSockets(ctx context.Context, r *channel.Receiver, specs []ListenSpec) (_ map[int]*boundSocket, introduced bool, gen int, _ error) {
	r.Admit(func(meta []byte) bool { return len(meta) > 0 && meta[0] == takeover.MetaTag })
	out := make(map[int]*boundSocket)
	for i := 0; ; i++ {
		it, err := r.Next(ctx)
		if err == nil && it.Conn == nil {
			err = errors.New("a state before the listening sockets")
		}
		if err != nil {
			return out, false, 0, fmt.Errorf("receive the listening sockets: %w", err)
		}
		m, err := takeover.DecodeSocketMeta(it.Meta)
		if err == nil && m.Index != i {
			err = fmt.Errorf("socket %d of %d, expected %d", m.Index, m.Count, i)
		}
		var fd int
		if err == nil {
			fd, err = dupReceived(it.Conn)
		}
		it.Conn.Close()
		if err != nil {
			return out, false, 0, err
		}
		if b := s.claim(specs, out, fd, m.Name); b == nil {
			unix.Close(fd)
		}
		if i+1 == m.Count {
			return out, m.State, m.Generation, nil
		}
	}
}

// claim makes fd the socket of the first unclaimed spec named name that it
// can serve, or returns nil.
func (s *Supervisor) claim(specs []ListenSpec, out map[int]*boundSocket, fd int, name string) *boundSocket {
	d, err := sockets.Describe(fd)
	for i, spec := range specs {
		if out[i] == nil && err == nil && spec.Name == name && sameKind(d, spec) {
			b := &boundSocket{spec: spec, fd: fd, desc: d.String(), closer: nopCloser{}}
			out[i] = b
			if !sockets.Match(d, spec.Network, spec.Address) {
				// Matched by name: the serving supervisor's address
				// wins, the --listen URL is only a name here.
				s.log.Warn("handoff: takeover: a received socket listens elsewhere than its --listen says", "name", name, "listen", spec.String(), "received", d.String())
			}
			return b
		}
	}
	s.log.Warn("handoff: takeover: a received socket matches no --listen by name and kind: closed", "name", name, "socket", d.String())
	return nil
}

// dupReceived gives a received socket a close-on-exec descriptor of its own.
func dupReceived(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, errors.New("a received socket has no descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	return sockets.Dup(rc)
}

// takeoverReady runs on the loop when the first generation is ready. A
// newcomer says so on the channel; then this supervisor listens on the
// path. False: the serving supervisor gave up on this one and serves on,
// so this one stops (Run returns ErrTakenOver).
func (s *Supervisor) takeoverReady() bool {
	tk := s.tk
	if tk == nil {
		return true
	}
	defer tk.path.Release()
	tk.intros = nil // the first generation is ready: later ones are this supervisor's own
	if r := tk.recv; r != nil {
		tk.recv = nil
		ctx, cancel := context.WithTimeout(context.Background(), takeoverTimeout)
		err := r.Ready(ctx)
		cancel()
		r.Close()
		if err != nil && tk.path.Alive() {
			s.log.Error("handoff: takeover: the serving supervisor gave up on this one and serves on: stopping", "err", err)
			s.exitErr = fmt.Errorf("handoff: %w: the serving supervisor was no longer waiting: %w", ErrTakenOver, err)
			s.beginStop("the takeover failed", false)
			return false
		}
		if err != nil {
			s.log.Warn("handoff: takeover: the serving supervisor went away before it heard this one is ready: serving on alone", "err", err)
		}
	}
	ln, err := tk.path.Listen()
	if err != nil {
		s.log.Error("handoff: takeover: no takeover socket: nobody can take over from this supervisor", "path", tk.path.String(), "err", err)
		return true
	}
	s.log.Info("handoff: takeover: listening", "path", tk.path.String())
	go takeover.Accept(ln, s.log, s.done, s.takeoverFrom)
	return true
}

// serveResumedTakeover, in Run after a self-upgrade, accepts newcomers
// again on the takeover listener the previous image handed over.
func (s *Supervisor) serveResumedTakeover() {
	if s.tk == nil || s.tk.resumed == nil {
		return
	}
	ln := s.tk.resumed
	s.tk.resumed = nil
	s.log.Info("handoff: takeover: listening again after the self-upgrade", "path", s.tk.path.String())
	go takeover.Accept(ln, s.log, s.done, s.takeoverFrom)
}

// takeoverFrom serves the newcomer on uc: the sockets, then its ready
// frame, then this supervisor's drain. Whatever fails is logged and told
// to the newcomer; this supervisor serves on.
func (s *Supervisor) takeoverFrom(uc *net.UnixConn) {
	ctx, cancel := context.WithTimeout(context.Background(), takeoverTimeout)
	defer cancel()
	snd, err := channel.AcceptConn(ctx, uc, channel.Peer{})
	if err != nil {
		s.log.Warn("handoff: takeover: refused a connection", "err", err)
		return
	}
	if !s.tk.track(snd) {
		snd.Abort("the supervisor is stopping")
		return
	}
	defer s.tk.untrack(snd)
	newcomer := snd.KernelPID()
	var refusal string
	var conns []channel.Conn
	var intros []takeover.Intro
	if !s.call(func() {
		switch {
		case s.stopping || s.idle || !s.served:
			refusal = "this supervisor is not serving"
		case s.tk.busy:
			refusal = "another takeover is in progress"
		case s.upgrade != nil:
			refusal = "an upgrade is in progress: try again once it is over"
		default:
			s.tk.busy = true
			intros = s.introductions()
			for i, fd := range s.fds {
				// State: the introductions follow the sockets.
				m := takeover.SocketMeta{State: len(intros) > 0, Generation: s.lastGen + 1, Index: i, Count: len(s.fds), Name: s.names[i]}
				conns = append(conns, channel.Conn{Socket: takeover.KeptSocket(fd), Meta: m.Encode()})
			}
		}
	}) {
		return
	}
	if refusal != "" {
		s.log.Warn("handoff: takeover: refused a newcomer", "newcomer", newcomer, "reason", refusal)
		snd.Abort(refusal)
		return
	}
	failed := func(why string) {
		s.log.Warn("handoff: takeover failed: serving on", "newcomer", newcomer, "reason", why)
		snd.Abort(why)
		s.post(func() { s.tk.busy = false })
	}
	s.log.Info("handoff: takeover: a newcomer connected: handing over the sockets", "newcomer", newcomer, "sockets", len(conns))
	// The descriptors stay valid: release closes them only after it has
	// ended this channel and this goroutine has returned (track).
	if _, err := snd.SendConns(ctx, conns); err != nil {
		failed("the listening sockets were not handed over: " + err.Error())
		return
	}
	if len(intros) > 0 {
		// Bounded by the wait below; ended (and waited for) before the
		// channel is untracked.
		ictx, icancel := context.WithTimeout(context.Background(), s.cfg.ReadyTimeout+takeoverTimeout)
		sent := s.sendIntroductions(ictx, snd, intros)
		defer func() {
			icancel()
			snd.Close()
			<-sent
		}()
	}
	t := time.NewTimer(s.cfg.ReadyTimeout)
	defer t.Stop()
	select {
	case <-snd.Ready():
	case <-snd.Gone():
		select {
		case <-snd.Ready():
		default:
			failed("the newcomer exited or closed the channel before it was ready")
			return
		}
	case <-t.C:
		failed("the newcomer was not ready within " + s.cfg.ReadyTimeout.String())
		return
	case <-s.done:
		return
	}
	s.post(func() { s.takenOver(newcomer) })
}

// track registers the channel of a newcomer being served; false once
// release has begun.
func (tk *takeoverSide) track(snd *channel.Sender) bool {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if tk.closed {
		return false
	}
	if tk.senders == nil {
		tk.senders = make(map[*channel.Sender]bool)
	}
	tk.senders[snd] = true
	tk.wg.Add(1)
	return true
}

func (tk *takeoverSide) untrack(snd *channel.Sender) {
	snd.Close()
	tk.mu.Lock()
	delete(tk.senders, snd)
	tk.mu.Unlock()
	tk.wg.Done()
}

// takenOver drains every worker, as a stop does, and makes Run return nil
// once they are gone. systemd hears STATUS=, not STOPPING=1.
func (s *Supervisor) takenOver(newcomer int) {
	s.tk.superseded = true
	if s.stopping {
		return
	}
	who := "supervisor pid " + strconv.Itoa(newcomer)
	s.log.Info("handoff: takeover: the newcomer is ready: draining every worker", "newcomer", newcomer)
	s.sd.send("STATUS=taken over by " + who + ": draining")
	s.stopping = true
	s.cancelUpgrade("taken over by " + who)
	s.drainAll()
	s.maybeFinish()
}

// releaseTakeover, at release, ends the channels of newcomers being served
// (before the sockets they lend are closed), closes the takeover listener
// and the lock;
// after a takeover it leaves the path and the unix socket files, now the
// newcomer's, alone.
func (s *Supervisor) releaseTakeover() {
	tk := s.tk
	if tk == nil {
		return
	}
	if tk.recv != nil {
		tk.recv.Close()
	}
	tk.mu.Lock()
	tk.closed = true
	for snd := range tk.senders {
		snd.Abort("the supervisor is stopping")
	}
	tk.mu.Unlock()
	tk.wg.Wait()
	tk.path.Close(tk.superseded)
	if !tk.superseded {
		return
	}
	for _, b := range s.sockets {
		if ul, ok := b.closer.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
		}
		b.unlink = ""
	}
}

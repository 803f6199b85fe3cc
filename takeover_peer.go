//go:build !windows

package handoff

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/handover"
)

// newcomer is a process that took over through the takeover socket, as
// the cutover sees it (newGeneration): not our child, so there is no exit
// status to read. It has ended when its channel closes (its kernel closes
// the socket when it dies) or, when its pid is visible in our pid
// namespace, when its pidfd says it exited (pidWatch, Linux).
type newcomer struct {
	snd   *handover.Sender
	kpid  int      // the kernel's word (SO_PEERCRED); 0: not visible here
	watch pidWatch // nil when the pid cannot be watched

	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	why  string
}

func newNewcomer(snd *handover.Sender) *newcomer {
	n := &newcomer{snd: snd, kpid: max(snd.KernelPID(), 0), done: make(chan struct{})}
	n.watch = watchPID(n.kpid)
	var exited <-chan struct{}
	if n.watch != nil {
		exited = n.watch.exited()
	}
	go func() {
		select {
		case <-snd.Gone():
			n.end("its takeover channel closed")
		case <-exited:
			n.end("it exited")
		}
	}()
	return n
}

func (n *newcomer) end(why string) {
	n.once.Do(func() {
		n.mu.Lock()
		n.why = why
		n.mu.Unlock()
		close(n.done)
	})
}

func (n *newcomer) pid() int              { return n.kpid }
func (n *newcomer) Done() <-chan struct{} { return n.done }

// Kill aborts the channel and, when the pid is visible here, SIGKILLs it
// through its pidfd (never a reused pid). A newcomer in another pid
// namespace only learns of the abort: its Ready fails and it drains
// (takeover_join.go). Kill returns once the newcomer has ended as far as
// this side can tell, within a bound.
func (n *newcomer) Kill() {
	n.snd.Abort("the serving process gave up on this takeover")
	if n.watch != nil {
		n.watch.kill()
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-n.watch.exited():
		case <-t.C:
		}
	}
	n.end("it was killed")
}

func (n *newcomer) Describe() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	why := n.why
	if why == "" {
		why = "still running"
	}
	if n.kpid == 0 {
		return why + " (it runs in another pid namespace)"
	}
	return why
}

// readyNotice: the newcomer is not this service's process (another unit,
// another container) and tells its own service manager; ours only hears
// that this process is about to drain.
func (n *newcomer) readyNotice(next int) []string {
	return []string{"STATUS=taken over by generation " + strconv.Itoa(next) + " (pid " + strconv.Itoa(n.kpid) + "); draining after probation"}
}

// stoppedOnPurpose: without an exit status every end of a newcomer in
// probation is a crash, and this generation serves again. Its own unit
// stopping it is, to this process, no reason to stop too.
func (n *newcomer) stoppedOnPurpose() bool { return false }

func (n *newcomer) hup() error { return errNoHUP }

// errNoHUP: upgrade requests are never passed on to a newcomer as
// signals (handOver is told it does not upgrade on SIGHUP): it belongs to
// somebody else.
var errNoHUP = errors.New("a process that took over is not signalled: ask it directly")

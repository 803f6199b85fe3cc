//go:build unix

package supervisor

import (
	"os/exec"
	"runtime"
	"sync"

	"github.com/handoff-go/handoff/internal/spawn"
)

// spawner starts every child of the supervisor, for two reasons.
//
// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not
// the process (golang/go#27505). Go may retire threads, so children are
// forked from one goroutine locked to its thread for the supervisor's whole
// life: their death signal fires only when the supervisor is gone. The same
// thread issues the execve of a self-upgrade (exec), since execve ends
// every other thread: forked anywhere else, every worker would get its
// drain signal at the re-exec. Under `handoff run` that thread is the main
// thread, lent by WithMainThread (mainthread.go): after a re-exec the
// thread that called execve is the main thread, so only the main thread
// can fork and exec across any number of re-execs.
//
// The reaper (reaper_linux.go) must never reap a child whose exit status
// another goroutine waits for. Starting a child and recording its pid as
// known happen under the same lock the reaper takes, so a child that dies
// at once is never mistaken for an orphan.
type spawner struct {
	reqs   chan func()
	onMain bool // reqs runs on the main thread (WithMainThread)

	mu    sync.Mutex
	known map[int]bool // children whose owner waits for them itself
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan func()), known: make(map[int]bool)}
	if main := mainThread.Load(); main != nil {
		s.reqs, s.onMain = *main, true // the main thread forks and execs (mainthread.go)
		return s
	}
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as we do
		for f := range s.reqs {
			f()
		}
	}()
	return s
}

// start starts a child through spawn. The pid stays known until the child
// has been reaped by spawn's own waiter.
func (s *spawner) start(c spawn.Config) (*spawn.Process, error) {
	var p *spawn.Process
	err := s.fork(func() (pid int, err error) {
		p, err = spawn.Start(c)
		if err != nil {
			return 0, err
		}
		return p.Pid, nil
	})
	if err == nil {
		go func() {
			<-p.Done()
			s.forget(p.Pid)
		}()
	}
	return p, err
}

// startCmd starts an os/exec command (readiness probes) under the same
// rules; the caller must call forget after cmd.Wait.
func (s *spawner) startCmd(cmd *exec.Cmd) error {
	return s.fork(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
}

// fork runs start on the spawner's thread, under the reaper's lock, and
// records the pid it returns as known.
func (s *spawner) fork(start func() (int, error)) error {
	var err error
	s.locked(func() {
		var pid int
		if pid, err = start(); err == nil {
			s.known[pid] = true
		}
	})
	return err
}

// locked runs f on the spawner's thread under the reaper's lock and waits
// for it.
func (s *spawner) locked(f func()) {
	done := make(chan struct{})
	s.reqs <- func() {
		defer close(done)
		s.mu.Lock()
		defer s.mu.Unlock()
		f()
	}
	<-done
}

func (s *spawner) forget(pid int) {
	s.mu.Lock()
	delete(s.known, pid)
	s.mu.Unlock()
}

func (s *spawner) isKnown(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known[pid]
}

package supervisor

import (
	"syscall"

	"github.com/handoff-go/handoff/internal/spawn"
)

// exec replaces this process's program by path, from the spawner's own
// thread: the thread that forked every worker, so the one thread whose
// exit would send them their parent-death signal is the one that survives
// the execve (the kernel ends every other thread). It holds the reaper's
// lock, so no child is reaped under the new binary's feet. It returns only
// when the execve failed; this process then carries on.
func (s *spawner) exec(path string, argv, env []string) error {
	var err error
	s.locked(func() { err = syscall.Exec(path, argv, env) })
	return err
}

// adopt records a child inherited across a self re-exec as known, as
// start does for a child it forks.
func (s *spawner) adopt(p *spawn.Process) {
	s.mu.Lock()
	s.known[p.Pid] = true
	s.mu.Unlock()
	go func() {
		<-p.Done()
		s.forget(p.Pid)
	}()
}

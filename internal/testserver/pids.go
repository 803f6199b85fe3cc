package testserver

import (
	"sync"
	"testing"
)

// PIDs is the set of processes a test started or learned of (later
// generations of a self-upgrading server are not the test's children).
// Cleanup kills each by pid, never by name, except those the test saw exit:
// their pid may have been reused by then.
type PIDs struct {
	mu   sync.Mutex
	pids map[int]bool // true: alive as far as the test knows
}

// NewPIDs returns an empty set whose members are killed (SIGKILL) when t's
// cleanup runs.
func NewPIDs(t testing.TB) *PIDs {
	p := &PIDs{pids: map[int]bool{}}
	t.Cleanup(p.KillAll)
	return p
}

// Add records pid (pid <= 0 is ignored; a pid marked gone stays gone).
func (p *PIDs) Add(pid int) {
	if pid <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, seen := p.pids[pid]; !seen {
		p.pids[pid] = true
	}
}

// Gone records that pid has exited, so that KillAll leaves its number alone.
func (p *PIDs) Gone(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pids[pid] = false
}

// List returns every pid recorded, gone or not.
func (p *PIDs) List() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, 0, len(p.pids))
	for pid := range p.pids {
		out = append(out, pid)
	}
	return out
}

// KillAll kills every recorded pid not known to be gone.
func (p *PIDs) KillAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pid, alive := range p.pids {
		if alive {
			kill(pid)
		}
	}
}

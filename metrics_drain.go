package handoff

// The drain's side of the metrics (drain.go calls in here).

// open counts the connections the drain still tracks: those that
// srv.Close is about to cut.
func (d *drainer) open() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// count adds what this drain did with its connections to the generation's
// metrics: moved, drained here instead (fell back), cut at the deadline.
func (d *drainer) count() { d.h.stats.drained(d.migrated, d.fellBack, d.cut) }

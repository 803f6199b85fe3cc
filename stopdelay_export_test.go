package handoff

import "os"

// Signal delivers sig as the signal watcher would, without sending a real
// signal to the test binary (which runs other tests).
func (h *Handoff) Signal(sig os.Signal) { h.onSignal(sig) }

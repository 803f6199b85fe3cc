package handoff

import (
	"os"

	"github.com/handoff-go/handoff/internal/launch"
)

// removePIDFiles removes, at Stop, the PID file and its .oldbin companion
// where they still name this process: a successor may already have written
// its own pid there.
func (h *Handoff) removePIDFiles() {
	if h.opts.PIDFile == "" {
		return
	}
	launch.RemovePIDFile(h.opts.PIDFile, os.Getpid())
	launch.RemovePIDFile(h.opts.PIDFile+".oldbin", os.Getpid())
}

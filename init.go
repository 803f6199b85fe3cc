//go:build !windows

package handoff

import "github.com/handoff-go/handoff/internal/activation"

// A process started as the LISTEN_PID shim becomes its target here, before
// any of the program's own code runs (see internal/activation and the
// package documentation): only when HANDOFF_SHIM_EXEC or HANDOFF_ADOPT_FDS
// is set, which only an upgrading handoff parent does.
func init() { activation.RunShim() }

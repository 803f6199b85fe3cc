package handoff

import "github.com/handoff-go/handoff/internal/activation"

// A process started as the LISTEN_PID shim becomes its target here, before
// any of the program's own code runs (see internal/activation).
func init() { activation.RunShim() }

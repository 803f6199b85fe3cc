//go:build !windows

package main

import "github.com/handoff-go/handoff/internal/activation"

// runShim: a worker is started as this binary with HANDOFF_SHIM_EXEC set:
// it sets LISTEN_PID to its own pid and execs the program, before anything
// else runs (see internal/activation). Otherwise it returns at once.
func runShim() { activation.RunShim() }

package demo

import (
	"context"
	"io"
	"path/filepath"
	"time"
)

// demoTarget is one way of restarting examples/hello that the demo can
// measure: the supervisor, the library's self-upgrade, or a naive stop and
// start. Each owns the processes it starts, and stop must leave none behind
// on any path.
type demoTarget interface {
	// start starts hello and returns once it serves, with its pid.
	start(ctx context.Context) (int, error)
	// upgrade replaces the serving generation and returns once the new one
	// serves (or the upgrade failed, and then the old one still does).
	upgrade(ctx context.Context) (demoStep, error)
	// stop stops every process the target started or learned of.
	stop()
}

// demoStep is what one upgrade reports for the progress line.
type demoStep struct {
	generation     int
	oldPID, newPID int
	ready          time.Duration // from the trigger to the new generation's readiness
}

// demoEnv is what every target needs.
type demoEnv struct {
	dir       string // temporary directory for sockets and pid files
	bin       string // directory holding the handoff and hello binaries
	addr      string // loopback host:port hello serves on
	probation time.Duration
	out       io.Writer // the children's output
	procs     *procSet
}

func (e *demoEnv) hello() string   { return filepath.Join(e.bin, "hello") }
func (e *demoEnv) handoff() string { return filepath.Join(e.bin, "handoff") }

// readyTimeout bounds every wait for a generation to serve: generous,
// since it only matters when something is broken.
const readyTimeout = 30 * time.Second

// stopGrace is how long processes may drain at the end before SIGKILL.
const stopGrace = 5 * time.Second

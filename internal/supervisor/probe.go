//go:build unix

package supervisor

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/handoff-go/handoff/internal/proto"
)

// probe runs the --ready=exec command until it exits 0 (the worker is then
// ready) or the worker leaves the starting state. Each run is bounded by
// 10 s, so a hung probe cannot outlive the readiness timeout by much.
func (s *Supervisor) probe(w *worker) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.cfg.Ready.Command)
		cmd.Env = append(append([]string(nil), s.cfg.Env...),
			proto.EnvWorkerPID+"="+strconv.Itoa(w.pid()),
			proto.EnvGeneration+"="+strconv.Itoa(w.gen.n))
		// Bounded output, and a bounded wait for it: a probe that prints
		// without end, or leaves a background child holding its output
		// pipe, must cost neither memory nor the worker's readiness.
		out := &cappedBuffer{max: probeOutputMax}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = probeWaitDelay
		err := s.spawner.startCmd(cmd)
		if err == nil {
			err = cmd.Wait()
			s.spawner.forget(cmd.Process.Pid)
			if errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success() {
				err = nil // it exited 0; a descendant kept the pipe
			}
		}
		cancel()
		if err == nil {
			s.post(func() { s.markReady(w, "probe exited 0") })
			return
		}
		last := strings.TrimSpace(out.String())
		s.log.Debug("handoff: readiness probe", "pid", w.pid(), "err", err, "output", last)
		select {
		case <-w.proc.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		still := false
		if !s.call(func() { still = w.state == workerStarting }) || !still {
			return
		}
	}
}

const (
	probeOutputMax = 4096
	probeWaitDelay = time.Second
)

// cappedBuffer keeps the first max bytes written to it and drops the rest.
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.b.Len(); room > 0 {
		c.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

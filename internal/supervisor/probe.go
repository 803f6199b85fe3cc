//go:build unix

package supervisor

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
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
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := s.spawner.startCmd(cmd)
		if err == nil {
			err = cmd.Wait()
			s.spawner.forget(cmd.Process.Pid)
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

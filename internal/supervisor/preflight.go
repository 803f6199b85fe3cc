//go:build unix

package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/preflight"
)

// program returns the executable an upgrade or a reload starts, once the
// pre-flight checks passed (internal/preflight), or the refusal to end it
// with: the serving generation prev has not been touched yet. still says
// what keeps serving, for messages.
//
// A reload starts prev's executable again: on Linux the bytes held open,
// elsewhere (and for #! scripts, run by path) the file at prev's path,
// which must still hash to what prev started with.
func (s *Supervisor) program(op *upgradeOp, prev *generation, still string) (*executable, *control.Event) {
	var reload bool
	s.call(func() { reload = op.reload })
	refuse := func(err error, reason string) (*executable, *control.Event) {
		if reason == "" {
			reason = preflight.Reason(err)
		}
		what := "upgrade"
		if reload {
			what = "reload"
		}
		return nil, &control.Event{Stage: control.StageRefused, Reason: reason,
			Message: fmt.Sprintf("%s refused: %v%s", what, err, still)}
	}
	if reload && prev != nil {
		exe := prev.exe
		if exe.held.target() == "" {
			sum, err := preflight.SHA256(exe.path)
			if err != nil || sum != exe.sum {
				if err == nil {
					err = fmt.Errorf("%s changed on disk since generation %d started (sha-256 %.12s, now %.12s) and this system cannot start the old bytes again; use handoff upgrade to run the new file", exe.path, prev.n, exe.sum, sum)
				}
				return refuse(err, control.ReasonChanged)
			}
		}
		if err := s.runCheck(exe); err != nil {
			return refuse(err, "")
		}
		return exe, nil
	}
	exe, err := resolve(s.cfg.Program, s.runDir)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, exec.ErrDot) {
			return refuse(fmt.Errorf("%w: %v", preflight.ErrMissing, err), "")
		}
		// LookPath of a path that exists but is not executable, or a
		// directory: let the checks below name it.
		exe = &executable{path: s.cfg.Program}
	}
	check := exe.target()
	sum, err := preflight.ProgramAt(check, exe.path, s.cfg.VerifySHA256)
	if err != nil {
		exe.release()
		return refuse(err, "")
	}
	exe.sum = sum
	if err := s.runCheck(exe); err != nil {
		exe.release()
		return refuse(err, "")
	}
	return exe, nil
}

// runCheck runs the --check command, if any, for exe. It runs on the
// upgrade goroutine: the loop keeps serving meanwhile.
func (s *Supervisor) runCheck(exe *executable) error {
	if s.cfg.Check == "" {
		return nil
	}
	// Started through the spawner, so the orphan reaper leaves its exit
	// status to us (reaper_linux.go).
	out, err := preflight.CommandStarted(context.Background(), s.cfg.Check, exe.target(), s.cfg.Env, s.cfg.CheckTimeout,
		s.spawner.startCmd, func(cmd *exec.Cmd) { s.spawner.forget(cmd.Process.Pid) })
	if err == nil && out != "" {
		s.log.Debug("handoff: check passed", "output", out)
	}
	return err
}

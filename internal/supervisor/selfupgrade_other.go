//go:build unix && !linux

package supervisor

import (
	"context"
	"runtime"

	"github.com/handoff-go/handoff/internal/control"
)

// Off Linux the supervisor does not upgrade itself: the state travels in a
// memfd and the workers' parent-death signal is Linux's (see
// selfupgrade_linux.go). UpgradeSelf refuses and says so.

var _ control.SelfUpgrader = (*Supervisor)(nil)

// UpgradeSelf refuses: re-executing the supervisor in place is Linux only.
func (s *Supervisor) UpgradeSelf(context.Context) <-chan control.Event {
	return single(control.Event{Stage: control.StageRefused,
		Message: "self-upgrade refused: not supported on " + runtime.GOOS + " (Linux only); the supervisor serves on unchanged"})
}

func (s *Supervisor) onSelfSignal() {
	s.log.Warn("handoff: SIGVTALRM: self-upgrade is not supported on " + runtime.GOOS)
}

type selfState struct{}

func takeSelfState() (*selfState, error)               { return nil, nil }
func (s *Supervisor) resumeResources(*selfState) error { return nil }
func (s *Supervisor) adoptWorkers(*selfState)          {}

//go:build !linux && !windows

package handoff

import (
	"errors"
	"log/slog"
)

// retire cannot check off Linux that pid still names the generation it
// did (no pidfd, no /proc start time): signalling it could reach an
// unrelated process that reused the pid, so the upgrade is refused instead
// (ErrTooManyDraining), as before.
func retire(pid int, log *slog.Logger) error {
	return errors.New("retiring a draining generation needs Linux (pidfd, /proc start time)")
}

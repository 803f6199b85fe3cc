//go:build unix && !linux

package supervisor

import "log/slog"

// startReaper does nothing off Linux: only Linux has child subreapers, and
// containers (where the supervisor is PID 1) are Linux. Orphans of workers
// go to the system's init there, as usual.
func startReaper(*spawner, *slog.Logger, <-chan struct{}) {}

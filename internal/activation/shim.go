package activation

import "github.com/handoff-go/handoff/internal/proto"

// LISTEN_PID must hold the pid of the process that receives the fds, which
// is unknown until fork and cannot be set by os/exec between fork and exec.
// The shim closes that gap: the parent starts a handoff binary with
// HANDOFF_SHIM_EXEC=<target>; the shim sets LISTEN_PID to its own pid and
// execve()s the target, which keeps the pid. The fds at 3.. survive the exec
// because the parent passed them without FD_CLOEXEC and the Go runtime opens
// nothing without it.

// ShimEnv returns the variable that makes a handoff binary act as the shim
// for target.
func ShimEnv(target string) string { return proto.EnvShimExec + "=" + target }

//go:build !unix

package activation

import (
	"fmt"
	"os"

	"github.com/handoff-go/handoff/internal/proto"
)

// RunShim returns at once, except in a process started as the LISTEN_PID
// shim, which cannot work here (there is no execve keeping the pid): that
// one says so and exits 127, as a shell does for a command it cannot run.
func RunShim() {
	if target, ok := os.LookupEnv(proto.EnvShimExec); ok {
		fmt.Fprintf(os.Stderr, "handoff: shim: exec %s: not supported on this system\n", target)
		os.Exit(127)
	}
}

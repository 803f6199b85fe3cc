//go:build unix

package activation

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/proto"
)

// RunShim turns this process into its target when it was started as a shim,
// and returns otherwise. It never returns on the shim path: it execs, or
// prints why it could not and exits 127, as a shell does for a command it
// cannot run. It is called from package initialisation, before any user code,
// so the exit cannot lose user state.
//
// A process started with HANDOFF_ADOPT_FDS=1 instead needs no exec: it is
// the target, and sets LISTEN_PID to its own pid here.
func RunShim() {
	if os.Getenv(proto.EnvAdoptFDs) == "1" {
		os.Unsetenv(proto.EnvAdoptFDs)
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		return
	}
	target, ok := os.LookupEnv(proto.EnvShimExec)
	if !ok {
		return
	}
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if len(kv) >= len(proto.EnvShimExec)+1 && kv[:len(proto.EnvShimExec)+1] == proto.EnvShimExec+"=" {
			continue
		}
		if len(kv) >= len("LISTEN_PID=") && kv[:len("LISTEN_PID=")] == "LISTEN_PID=" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	err := unix.Exec(target, os.Args, env)
	fmt.Fprintf(os.Stderr, "handoff: shim: exec %s: %v\n", target, err)
	os.Exit(127)
}

//go:build unix

package supervisor

import (
	"os"
	"runtime"

	"github.com/handoff-go/handoff/internal/launch"
)

// Workers that drop privileges (gosu, su-exec, setpriv as PID 1 of a
// container, or `handoff run -- setpriv --reuid=nobody ... app`) must
// still reach their notify socket, or they can never report READY=1. On
// Linux the run directory is therefore 0711 (enterable, not listable) and
// each worker's socket is 0666 under a random name; what authenticates a
// sender is its lineage, from the pid the kernel vouches for: a datagram of
// another uid counts only from a live descendant of the worker (onNotify).
// Elsewhere datagrams carry no sender pid, so nothing could tell a worker
// from anyone else: the directory stays 0700 and such workers cannot
// notify (use --ready=exec or delay there).
var notifyAnyUID = runtime.GOOS == "linux"

// openRunDir gives the run directory the mode the sockets in it need.
func openRunDir(dir string) error {
	if !notifyAnyUID {
		return nil
	}
	return os.Chmod(dir, 0o711)
}

func listenWorkerNotify(dir string) (*launch.Notify, error) {
	if notifyAnyUID {
		return launch.ListenNotifyAnyUID(dir)
	}
	return launch.ListenNotify(dir)
}

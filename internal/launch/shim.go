package launch

import (
	"os"
	"runtime"
)

// ShimPath is the handoff binary a child is started as when it must get
// LISTEN_PID right (see internal/activation): this process's own
// executable. On Linux it is the executable as the kernel holds it
// (/proc/self/exe), which works even after the file on disk was replaced
// or deleted; elsewhere it is the path this process started from
// (os.Executable, or argv[0] if that fails), so replacing that file
// changes what the shim runs.
func ShimPath() string {
	if runtime.GOOS == "linux" {
		return "/proc/self/exe"
	}
	exe, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return exe
}

package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Private temporary directories that name their owner. A process killed
// with SIGKILL (or crashed, or stopped by a power cut of its container)
// never removes what it made in /tmp; each directory's name carries the pid
// of the process that made it, so that the next one can tell a stale
// directory from a live one and remove it (CleanStaleDirs).

// MkdirOwned creates a private (0700) directory in the system's temporary
// directory named prefix-<our pid>-<random>.
func MkdirOwned(prefix string) (string, error) {
	return os.MkdirTemp("", prefix+"-"+strconv.Itoa(os.Getpid())+"-*")
}

// CleanStaleDirs removes the directories MkdirOwned made with prefix whose
// owner process is gone. It only touches real directories (not symlinks)
// owned by this user, and keeps any whose pid names a live process, even an
// unrelated one that reused the pid: a leftover is cheaper than removing a
// live one's sockets. It returns the directories it removed.
func CleanStaleDirs(prefix string) []string {
	tmp := os.TempDir()
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix+"-")
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		path := filepath.Join(tmp, e.Name())
		if !ownDir(path) || processExists(pid) {
			continue
		}
		if os.RemoveAll(path) == nil {
			removed = append(removed, path)
		}
	}
	return removed
}

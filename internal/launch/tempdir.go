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
// directory named prefix-<our pid>-<random>, or on Linux
// prefix-<our pid>-ns<pid namespace inode>-<random>: a pid means something
// only in its pid namespace, and containers (or `unshare --pid`) that share
// /tmp each have their own.
func MkdirOwned(prefix string) (string, error) {
	tag := ""
	if ns := pidNamespace(); ns != "" {
		tag = nsTag + ns + "-"
	}
	return os.MkdirTemp("", prefix+"-"+strconv.Itoa(os.Getpid())+"-"+tag+"*")
}

// nsTag starts the pid namespace part of a directory's name.
const nsTag = "ns"

// CleanStaleDirs removes the directories MkdirOwned made with prefix whose
// owner process is gone. It only touches real directories (not symlinks)
// owned by this user, and keeps any whose pid names a live process, even an
// unrelated one that reused the pid: a leftover is cheaper than removing a
// live one's sockets. A directory made in another pid namespace than ours
// is kept too: its pid cannot be checked from here (a process of a
// container, or of `unshare --pid`, that shares /tmp would otherwise
// remove a live supervisor's sockets). It returns the directories it
// removed.
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
		pidText, rest, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if ns, _, tagged := strings.Cut(rest, "-"); strings.HasPrefix(ns, nsTag) && tagged {
			if ours := pidNamespace(); ours == "" || ns != nsTag+ours {
				continue
			}
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

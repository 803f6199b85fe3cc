package launch

import (
	"os"
	"strings"
)

// pidNamespace names this process's pid namespace: the inode number in
// /proc/self/ns/pid ("pid:[4026531836]"), or "" when it cannot be read.
func pidNamespace() string {
	link, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	ino, ok := strings.CutPrefix(link, "pid:[")
	if !ok || !strings.HasSuffix(ino, "]") {
		return ""
	}
	return strings.TrimSuffix(ino, "]")
}

//go:build unix

package preflight

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// executable asks the kernel (access X_OK), which knows about ACLs and the
// process's groups; root passes access(2) for any x bit, so the mode is
// checked too.
func executable(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o111 == 0 {
		return errNoXBit
	}
	return unix.Access(path, unix.X_OK)
}

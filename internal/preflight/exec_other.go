//go:build !unix

package preflight

import "io/fs"

// executable: Windows has no execute bit; the file's format decides.
func executable(string, fs.FileInfo) error { return nil }

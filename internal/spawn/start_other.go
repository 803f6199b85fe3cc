//go:build !unix

package spawn

import (
	"fmt"
	"runtime"
)

// Start returns an error wrapping ErrNotSupported: this system's process
// API cannot place descriptors at 3, 4, ... in a child.
func Start(c Config) (*Process, error) {
	return nil, fmt.Errorf("start %s on %s: %w", c.Path, runtime.GOOS, ErrNotSupported)
}

//go:build !unix

package activation

import (
	"errors"
	"fmt"
)

// Inherited is a descriptor that passed Check. On Windows nothing does:
// there is no descriptor inheritance by number, and the library serves on
// sockets it binds itself.
type Inherited struct {
	Passed
	Kind   Kind
	Socket bool
}

// errWindows is why Check refuses every descriptor on Windows.
var errWindows = errors.New("socket activation is not supported on windows")

// Check refuses every descriptor on Windows (ErrNotInherited).
func Check(p Passed) (Inherited, error) {
	return Inherited{Passed: p, Kind: Expect(p.Name)}, fmt.Errorf("%w: fd %d (%s): %w", ErrNotInherited, p.FD, p.Name, errWindows)
}

// Same is always false on Windows: nothing passed Check.
func (in Inherited) Same() bool { return false }

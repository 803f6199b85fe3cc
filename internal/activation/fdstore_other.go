//go:build !unix

package activation

import (
	"context"
	"errors"
)

// Store is not supported on Windows: there is no service manager fd store.
func Store(ctx context.Context, socket, name string, fds ...int) error {
	return errors.New("fd store: not supported on windows")
}

//go:build !unix

package sdnotify

import (
	"context"
	"fmt"
	"runtime"
)

// Receiver is the listening end of sd_notify. Off unix there is none:
// Listen always fails.
type Receiver struct{}

// Listen returns an error wrapping ErrNotSupported: sd_notify needs unix
// datagram sockets, which this system lacks.
func Listen(path string) (*Receiver, error) {
	return nil, fmt.Errorf("sdnotify: listen %s on %s: %w", path, runtime.GOOS, ErrNotSupported)
}

// Path returns "".
func (r *Receiver) Path() string { return "" }

// Receive returns an error wrapping ErrNotSupported.
func (r *Receiver) Receive() (Datagram, error) { return Datagram{}, ErrNotSupported }

// Close does nothing.
func (r *Receiver) Close() error { return nil }

// Send returns ErrNoSocket for an empty socket, as on unix, so callers that
// treat that as "nobody listens" carry on; otherwise ErrNotSupported.
func Send(socket string, msg []byte) error {
	if socket == "" {
		return ErrNoSocket
	}
	return ErrNotSupported
}

// Barrier behaves as Send.
func Barrier(ctx context.Context, socket string) error { return Send(socket, nil) }

// SendContext behaves as Send.
func SendContext(ctx context.Context, socket string, msg []byte) error { return Send(socket, msg) }

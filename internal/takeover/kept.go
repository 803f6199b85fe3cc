package takeover

import (
	"errors"
	"syscall"
)

// KeptSocket lends handover.Sender.SendConns a descriptor the serving
// process keeps (it serves on until the newcomer is ready, and again if
// the newcomer fails): it is duplicated for the message, and Close, which
// SendConns calls once the batch is confirmed, leaves it open.
type KeptSocket int

// SyscallConn returns the descriptor itself as its raw connection.
func (k KeptSocket) SyscallConn() (syscall.RawConn, error) { return k, nil }

// Close does nothing: the descriptor stays the serving process's.
func (k KeptSocket) Close() error { return nil }

// Control calls f with the descriptor.
func (k KeptSocket) Control(f func(fd uintptr)) error {
	f(uintptr(k))
	return nil
}

// Read is not supported: the descriptor is only passed on.
func (k KeptSocket) Read(func(fd uintptr) bool) error { return errors.ErrUnsupported }

// Write is not supported: the descriptor is only passed on.
func (k KeptSocket) Write(func(fd uintptr) bool) error { return errors.ErrUnsupported }

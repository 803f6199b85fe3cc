//go:build !unix

package supervisor

// validName accepts every name: off unix no socket is ever bound or passed
// (New fails), so there is nothing for the name to be valid for.
func validName(string) error { return nil }

// Supervisor is not available off unix: New returns ErrNotSupported.
type Supervisor struct{}

// New returns ErrNotSupported.
func New(Config) (*Supervisor, error) { return nil, ErrNotSupported }

// Run returns ErrNotSupported.
func (*Supervisor) Run() error { return ErrNotSupported }

//go:build unix

package supervisor

import "github.com/handoff-go/handoff/internal/activation"

// validName is the LISTEN_FDNAMES rule, systemd's.
func validName(name string) error { return activation.ValidName(name) }

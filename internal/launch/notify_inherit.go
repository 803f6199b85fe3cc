//go:build unix

package launch

import "github.com/handoff-go/handoff/internal/sdnotify"

// Dup returns a close-on-exec duplicate of the notify socket's descriptor,
// for a process that re-executes itself (see NotifyFromFD).
func (n *Notify) Dup() (int, error) { return n.recv.Dup() }

// NotifyFromFD takes back a notify socket that a re-executed process
// inherited: fd, bound to path. Close removes the socket file; the
// directory stays its creator's.
func NotifyFromFD(fd int, path string) (*Notify, error) {
	r, err := sdnotify.FromFD(fd, path)
	if err != nil {
		return nil, err
	}
	return &Notify{recv: r}, nil
}

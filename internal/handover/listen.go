package handover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/handoff-go/handoff/internal/proto"
)

// EnvSocket names the environment variable in which the old generation
// passes Listener.Path to the new one.
const EnvSocket = proto.EnvHandover

// Listener is the old generation's end of the channel: a unix stream socket
// of mode 0600 in a fresh directory of mode 0700 that nobody else can enter.
type Listener struct {
	ln   *net.UnixListener
	dir  string
	path string
}

// Listen creates the socket in a new private directory under parent
// (os.TempDir() when parent is ""). The directory's name is random, so two
// processes never collide and nobody can create it first.
//
// Mode bits are only the first fence: root ignores them. Accept checks each
// peer's credentials as well. Off unix (Windows) there is no channel:
// Listen returns ErrUnsupported.
func Listen(parent string) (*Listener, error) {
	if !supported {
		return nil, fmt.Errorf("handover: listen: %w", ErrUnsupported)
	}
	if parent == "" {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "handoff-handover-")
	if err != nil {
		return nil, fmt.Errorf("handover: listen: %w", err)
	}
	path := filepath.Join(dir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("handover: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(dir)
		return nil, fmt.Errorf("handover: listen: chmod %s: %w", path, err)
	}
	return &Listener{ln: ln, dir: dir, path: path}, nil
}

// Path is the socket the new generation passes to Dial (via EnvSocket).
func (l *Listener) Path() string { return l.path }

// Accept waits for a new generation to connect, checks its credentials
// (same uid; want.PID if set), exchanges hellos and returns the sending end
// of the channel. A peer that fails the checks is told why (an abort frame
// it reads instead of a hello) and disconnected; Accept then returns
// ErrPeer, ErrVersion or ErrProtocol and the listener stays usable, so the
// caller may Accept again. Accept returns ctx's error when ctx ends first.
func (l *Listener) Accept(ctx context.Context, want Peer) (*Sender, error) {
	done := interrupt(ctx, l.ln.SetDeadline)
	uc, err := l.ln.AcceptUnix()
	if err = prefer(done(), err); err != nil {
		if errors.Is(err, net.ErrClosed) {
			err = ErrClosed
		}
		return nil, fmt.Errorf("handover: accept: %w", err)
	}
	c, err := handshake(ctx, uc, roleSender, want)
	if err != nil {
		return nil, err
	}
	return newSender(c), nil
}

// Close stops listening and removes the socket and its directory. Channels
// already accepted are not affected.
func (l *Listener) Close() error {
	err := l.ln.Close() // also unlinks the socket file
	os.Remove(l.path)
	if rerr := os.Remove(l.dir); err == nil && rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("handover: close listener: %w", err)
	}
	return nil
}

// Dial connects to the channel at path (the old generation's
// Listener.Path), checks the credentials of the process that listens there
// (same uid; want.PID if set), exchanges hellos and returns the receiving
// end. It returns ErrPeer, ErrVersion, ErrAborted (the old generation
// refused this process, with its reason) or ctx's error; ErrUnsupported
// off unix (Windows).
func Dial(ctx context.Context, path string, want Peer) (*Receiver, error) {
	if !supported {
		return nil, fmt.Errorf("handover: dial: %w", ErrUnsupported)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("handover: dial: %w", err)
	}
	ch, err := handshake(ctx, c.(*net.UnixConn), roleReceiver, want)
	if err != nil {
		return nil, err
	}
	return newReceiver(ch), nil
}

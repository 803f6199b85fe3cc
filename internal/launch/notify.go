package launch

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// Notify is the private notify socket one child reports on: give the child
// Path() as NOTIFY_SOCKET (Child.Notify). It is a unix datagram socket in a
// directory only this user can enter (0700), so the datagrams on it come
// from this user's processes; on Linux the kernel also vouches for each
// sender's pid (sdnotify.Datagram.PID).
type Notify struct {
	recv *sdnotify.Receiver
	dir  string // removed by Close: ListenNotify created it
}

// NotifyDirPrefix names the directories ListenNotify makes for itself
// (see MkdirOwned, CleanStaleDirs).
const NotifyDirPrefix = "handoff-notify"

// seq numbers the sockets of this process, so that any number of them can
// share one directory.
var seq atomic.Uint64

// ListenNotify creates a notify socket in dir, which must be private to
// this user (a supervisor's run directory); the socket gets a name no other
// socket of this process has. With dir "", it creates a private temporary
// directory of its own (mode 0700), which Close removes.
func ListenNotify(dir string) (*Notify, error) {
	n := &Notify{}
	if dir == "" {
		d, err := MkdirOwned(NotifyDirPrefix) // 0700: only we can reach the socket
		if err != nil {
			return nil, fmt.Errorf("launch: notify socket: %w", err)
		}
		dir, n.dir = d, d
	}
	recv, err := sdnotify.Listen(filepath.Join(dir, "n"+strconv.FormatUint(seq.Add(1), 10)+".sock"))
	if err != nil {
		if n.dir != "" {
			os.RemoveAll(n.dir)
		}
		return nil, fmt.Errorf("launch: notify socket: %w", err)
	}
	n.recv = recv
	return n, nil
}

// ListenNotifyAnyUID creates a notify socket in dir that a child which
// drops its privileges (gosu, su-exec, setpriv) can still reach: the
// socket is mode 0666 under a random name, in dir, which the caller makes
// 0711 (enterable, not listable). The socket does not authenticate anyone
// by itself: the receiver must accept a datagram from another uid only
// when the kernel-vouched sender pid (sdnotify.Datagram.PID) is a live
// descendant of its child. Linux only, where senders' pids are vouched for.
func ListenNotifyAnyUID(dir string) (*Notify, error) {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("launch: notify socket: %w", err)
	}
	name := filepath.Join(dir, "n"+strconv.FormatUint(seq.Add(1), 10)+"-"+hex.EncodeToString(rnd[:])+".sock")
	recv, err := sdnotify.Listen(name)
	if err != nil {
		return nil, fmt.Errorf("launch: notify socket: %w", err)
	}
	if err := os.Chmod(name, 0o666); err != nil {
		recv.Close()
		return nil, fmt.Errorf("launch: notify socket: %w", err)
	}
	return &Notify{recv: recv}, nil
}

// Path is the NOTIFY_SOCKET value to give the child.
func (n *Notify) Path() string { return n.recv.Path() }

// Receive blocks until the next datagram arrives; see sdnotify.Receiver.
// After Close it returns an error wrapping net.ErrClosed.
func (n *Notify) Receive() (sdnotify.Datagram, error) { return n.recv.Receive() }

// Close closes the socket, which unblocks Receive and WaitReady, and
// removes the directory ListenNotify created for it, if any.
func (n *Notify) Close() error {
	err := n.recv.Close()
	if n.dir != "" {
		os.RemoveAll(n.dir)
	}
	return err
}

// WaitReady reads the socket until the child pid says READY=1, and sends
// exactly one value on the returned channel (buffered, so nobody has to
// read it): nil when the child is ready; an error wrapping proto.ErrVersion
// when it is ready but speaks a protocol version this build does not (see
// CheckReady); or the receive error when the socket is closed first.
//
// Datagrams from a pid other than pid are ignored (and logged), as are
// malformed ones; a datagram without a sender pid (off Linux) counts as the
// child's, since only this user can reach the socket. STATUS= lines are
// logged at debug level. WaitReady must be the socket's only reader.
func (n *Notify) WaitReady(pid int, log *slog.Logger) <-chan error {
	ready := make(chan error, 1)
	go func() { ready <- (<-n.AwaitReady(pid, log)).Err }()
	return ready
}

// Readiness is what AwaitReady learnt: Err as WaitReady's value, and on
// success the READY=1 datagram itself, for fields beyond readiness.
type Readiness struct {
	Err error
	Msg sdnotify.Message
}

// AwaitReady is WaitReady that also returns the READY=1 datagram.
func (n *Notify) AwaitReady(pid int, log *slog.Logger) <-chan Readiness {
	ready := make(chan Readiness, 1)
	go func() {
		for {
			d, err := n.Receive()
			if err != nil {
				ready <- Readiness{Err: err}
				return
			}
			if d.Err != nil {
				log.Warn("handoff: upgrade: malformed notification", "pid", d.PID, "err", d.Err)
				continue
			}
			if d.PID != 0 && d.PID != pid {
				log.Warn("handoff: upgrade: notification from another process ignored", "pid", d.PID, "want", pid)
				continue
			}
			if s, ok := d.Msg.Get("STATUS"); ok {
				log.Debug("handoff: upgrade: status", "pid", pid, "status", s)
			}
			if ok, err := CheckReady(d.Msg); err != nil {
				ready <- Readiness{Err: fmt.Errorf("new generation is ready but: %w", err)}
				return
			} else if ok {
				ready <- Readiness{Msg: d.Msg}
				return
			}
		}
	}()
	return ready
}

//go:build unix

package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// maxFDs is the most descriptors Linux passes in one datagram (SCM_MAX_FD).
const maxFDs = 253

// Receiver is the endpoint a supervisor, or a parent handing over to its
// successor, listens on for sd_notify datagrams. Create it with Listen and
// give children Path() as NOTIFY_SOCKET.
type Receiver struct {
	conn     *net.UnixConn
	path     string
	abstract bool
	// info identifies the socket file we created, so Close removes only
	// our own file and never one that somebody put in its place.
	info os.FileInfo

	closeOnce sync.Once
	closeErr  error
}

// Listen creates a unix datagram socket at path and returns a Receiver for
// it. A relative path is made absolute first, because libsystemd's
// sd_notify ignores a NOTIFY_SOCKET that is neither absolute nor abstract.
// Listen never removes an existing file: if path exists it fails (with an
// error matching unix.EADDRINUSE), so a live socket of another generation
// is never stolen. The socket file is chmod 0600 — there is a brief window
// after bind in which the umask decides, so put path in a private directory
// if other users must not send at all. The socket is close-on-exec; on
// Linux SO_PASSCRED is enabled so every datagram carries the sender's
// credentials.
//
// "@name" listens in the Linux abstract namespace; on other systems it is
// an error.
func Listen(path string) (*Receiver, error) {
	abstract := strings.HasPrefix(path, "@")
	if path != "" && !abstract {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("sdnotify: listen: %w", err)
		}
		path = abs
	}
	addr, err := unixAddr(path)
	if errors.Is(err, ErrNoSocket) {
		return nil, errors.New("sdnotify: listen: empty path")
	}
	if err != nil {
		return nil, fmt.Errorf("sdnotify: listen: %w", err)
	}
	conn, err := net.ListenUnixgram("unixgram", addr)
	if err != nil {
		return nil, fmt.Errorf("sdnotify: listen: %w", err)
	}
	r := &Receiver{conn: conn, path: path, abstract: abstract}
	fail := func(op string, err error) (*Receiver, error) {
		r.Close()
		return nil, fmt.Errorf("sdnotify: listen: %s: %w", op, err)
	}
	if !abstract {
		if r.info, err = os.Lstat(path); err != nil {
			return fail("stat", err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return fail("chmod", err)
		}
	}
	if err := enableCredentials(conn); err != nil {
		return fail("enable credentials", err)
	}
	return r, nil
}

// Path returns the NOTIFY_SOCKET value to give children: an absolute path,
// or "@name" for an abstract socket.
func (r *Receiver) Path() string { return r.path }

// Receive blocks until the next datagram arrives and returns it.
//
// Every fd that came with the datagram (SCM_RIGHTS) is closed before Receive
// returns, also when the datagram is malformed, and only their number is
// reported. Closing them is what releases a BARRIER=1 sender: Barrier,
// sd_notify_barrier and systemd-notify all wait for that fd to be closed.
//
// A malformed or oversize datagram is returned as a Datagram with Err set,
// not as an error, so a caller can log it and keep going. Receive's own
// error means the socket is unusable: after Close it wraps net.ErrClosed.
// Receive may be called concurrently with Close, which unblocks it, and
// from several goroutines at once.
func (r *Receiver) Receive() (Datagram, error) {
	// One byte more than MaxSize so that an oversize datagram shows up as
	// too long (or MSG_TRUNC) instead of being silently cut to a valid one.
	buf := make([]byte, MaxSize+1)
	oob := make([]byte, oobSize)
	n, oobn, flags, _, err := r.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return Datagram{}, fmt.Errorf("sdnotify: receive: %w", err)
	}
	// Control data is handled first and unconditionally so that fds are
	// closed whatever is wrong with the payload.
	d := Datagram{UID: -1}
	ctlErr := r.control(oob[:oobn], &d)
	switch {
	case flags&unix.MSG_TRUNC != 0 || n > MaxSize:
		d.Err = malformed("sdnotify: receive: datagram exceeds limit of %d bytes", MaxSize)
	case ctlErr != nil:
		d.Err = ctlErr
	default:
		d.Msg, d.Err = Parse(buf[:n])
	}
	// MSG_CTRUNC is deliberately not an error: the kernel has already
	// closed the fds that did not fit, which is all a barrier needs, and
	// oobSize leaves room for every fd Linux can pass.
	return d, nil
}

// control closes every passed fd and records credentials. It returns an error
// only when the control data cannot be decoded at all, which the kernel does
// not produce; fds in such a message cannot be located and are not closed.
func (r *Receiver) control(oob []byte, d *Datagram) error {
	if len(oob) == 0 {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return fmt.Errorf("sdnotify: receive: control message: %w", err)
	}
	var errs []error
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Level != unix.SOL_SOCKET {
			continue
		}
		if m.Header.Type == unix.SCM_RIGHTS {
			fds, err := unix.ParseUnixRights(m)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, fd := range fds {
				unix.Close(fd)
			}
			d.FDs += len(fds)
			continue
		}
		if pid, uid, ok := credentials(m); ok {
			d.PID, d.UID = pid, uid
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sdnotify: receive: control message: %w", errors.Join(errs...))
	}
	return nil
}

// Close closes the socket, which makes a blocked Receive return an error
// wrapping net.ErrClosed, and removes the socket file unless it is abstract
// or no longer the file Listen created. Closing twice returns an error
// wrapping net.ErrClosed.
func (r *Receiver) Close() error {
	err := fmt.Errorf("sdnotify: close: %w", net.ErrClosed)
	r.closeOnce.Do(func() {
		var errs []error
		if err := r.conn.Close(); err != nil {
			errs = append(errs, err)
		}
		if r.info != nil {
			if cur, err := os.Lstat(r.path); err == nil && os.SameFile(cur, r.info) {
				if err := os.Remove(r.path); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if len(errs) > 0 {
			r.closeErr = fmt.Errorf("sdnotify: close: %w", errors.Join(errs...))
		}
		err = r.closeErr
	})
	return err
}

package handover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Protocol versions this build speaks. A peer announces its own range in
// its hello; both use the highest version in both ranges.
const (
	ProtocolVersion    = 2
	minProtocolVersion = 1
)

// Peer says which process this side accepts at the other end of the
// channel. The peer's uid must always be this process's uid: a generation
// hands its connections to another generation of the same program, never
// to another user (root included).
type Peer struct {
	// PID, when non-zero, is the only process id accepted. It is checked on
	// Linux (SO_PEERCRED) and darwin (LOCAL_PEERPID); elsewhere the kernel
	// does not say, and a non-zero PID makes the handshake fail with
	// ErrUnsupported rather than pretend it was checked.
	PID int
	// Ancestor, when non-zero, must be the peer's parent, grandparent or
	// a process further up its tree: how a supervised worker recognises its
	// successor, started by the same supervisor (perhaps through a shell),
	// whose pid it cannot know in advance. Checked on Linux (the peer's pid
	// from SO_PEERCRED, its ancestors from /proc); elsewhere ignored, and
	// only the uid is checked.
	Ancestor int
}

// conn is one end of an established channel: the socket, the negotiated
// version and the frame reader. Sender and Receiver build on it.
type conn struct {
	c       *net.UnixConn
	fr      *frameReader
	version uint8
	peerPID int // as the peer announced it in its hello
	credPID int // as the kernel reported it: see Sender.KernelPID
}

func newConn(c *net.UnixConn) *conn {
	return &conn{
		c: c,
		fr: newFrameReader(func(b, oob []byte) (int, int, int, error) {
			n, oobn, flags, _, err := c.ReadMsgUnix(b, oob)
			return n, oobn, flags, err
		}),
	}
}

// frame encodes one frame in the negotiated version.
func (c *conn) frame(t frameType, flags uint16, payload []byte) []byte {
	return appendFrame(make([]byte, 0, headerSize+len(payload)), c.version, t, flags, payload)
}

// writeFDs writes b, a whole frame, with fds attached to its first byte.
// The first sendmsg carries the descriptors; if the kernel took only part
// of the frame, the rest follows as plain bytes, which is still the same
// frame to the reader.
func (c *conn) writeFDs(b []byte, fds []int) error {
	n, _, err := c.c.WriteMsgUnix(b, unixRights(fds), nil)
	if err == nil && n < len(b) {
		_, err = c.c.Write(b[n:])
	}
	return err
}

// abort tells the peer why this side gives up, best effort and briefly: a
// peer that does not read learns it from the closed socket anyway.
func (c *conn) abort(reason string) {
	c.c.SetWriteDeadline(time.Now().Add(abortTimeout))
	c.c.Write(appendFrame(nil, c.version, frameAbort, 0, []byte(clip(reason))))
}

// handshake checks the peer's credentials, exchanges hellos and settles on
// a version. On failure it tells the peer why (abort frame) and closes the
// socket.
func handshake(ctx context.Context, uc *net.UnixConn, me role, want Peer) (_ *conn, err error) {
	c := newConn(uc)
	c.version = helloVersion
	done := interrupt(ctx, uc.SetDeadline)
	defer func() {
		err = prefer(done(), err)
		if err != nil {
			uc.Close()
		}
	}()
	credPID, err := checkPeer(uc, want)
	if err != nil {
		c.abort(err.Error())
		return nil, err
	}
	c.credPID = credPID
	hi := hello{min: minProtocolVersion, max: ProtocolVersion, role: me, pid: uint32(os.Getpid())}
	if _, err := uc.Write(appendFrame(nil, helloVersion, frameHello, 0, hi.encode())); err != nil && !peerGone(err) {
		return nil, fmt.Errorf("handover: send hello: %w", err)
	}
	// A peer that refused this side has closed its end: its abort frame,
	// still to be read, says why.
	h, p, err := c.fr.readFrame()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the peer closed the channel before its hello", ErrAborted)
		}
		return nil, fmt.Errorf("handover: read hello: %w", err)
	}
	switch h.typ {
	case frameHello:
	case frameAbort:
		return nil, fmt.Errorf("%w: %q", ErrAborted, p)
	default:
		err := fmt.Errorf("%w: first frame is %s, expected hello", ErrProtocol, h.typ)
		c.abort(err.Error())
		return nil, err
	}
	peer, err := decodeHello(p)
	if err != nil {
		c.abort(err.Error())
		return nil, err
	}
	if peer.role == me || (peer.role != roleSender && peer.role != roleReceiver) {
		err := fmt.Errorf("%w: the peer is a %s, so is this side", ErrProtocol, peer.role)
		c.abort(err.Error())
		return nil, err
	}
	v := min(peer.max, ProtocolVersion)
	if v < max(peer.min, minProtocolVersion) {
		err := fmt.Errorf("%w: the peer (pid %d) speaks versions %d..%d, this build speaks %d..%d",
			ErrVersion, peer.pid, peer.min, peer.max, minProtocolVersion, ProtocolVersion)
		c.abort(err.Error())
		return nil, err
	}
	c.version = uint8(v)
	c.fr.version = uint8(v)
	c.peerPID = int(peer.pid)
	return c, nil
}

// checkPeer refuses a peer of another uid, or another pid than want.PID.
// The descriptor is borrowed through Control: Fd() would switch the socket
// to blocking mode.
//
// It returns the peer's pid as the kernel reported it (0: in a pid
// namespace this process cannot see into; -1: the kernel does not say).
func checkPeer(uc *net.UnixConn, want Peer) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("handover: peer credentials: %w", err)
	}
	uid, pid := -1, -1
	var credErr error
	if err := rc.Control(func(fd uintptr) { uid, pid, credErr = peerCred(int(fd)) }); err != nil {
		return -1, fmt.Errorf("handover: peer credentials: %w", err)
	}
	if credErr != nil {
		return -1, fmt.Errorf("handover: peer credentials: %w", credErr)
	}
	if me := os.Getuid(); uid != me {
		return -1, fmt.Errorf("%w: the peer runs as uid %d, this process as uid %d", ErrPeer, uid, me)
	}
	if want.PID != 0 {
		if pid < 0 {
			return -1, fmt.Errorf("%w: cannot check that the peer is pid %d: the kernel does not report peer pids here", ErrUnsupported, want.PID)
		}
		if pid != want.PID {
			return -1, fmt.Errorf("%w: the peer is pid %d, expected pid %d", ErrPeer, pid, want.PID)
		}
	}
	if want.Ancestor != 0 && pid > 0 {
		if ppid, ok := parentOf(pid); ok && !descends(ppid, want.Ancestor) {
			return -1, fmt.Errorf("%w: the peer (pid %d, child of pid %d) does not descend from pid %d", ErrPeer, pid, ppid, want.Ancestor)
		}
	}
	return pid, nil
}

// descends reports whether pid is ancestor or one of its descendants,
// walking up the parents (a bounded number of steps).
func descends(pid, ancestor int) bool {
	for range 64 {
		if pid == ancestor {
			return true
		}
		if pid <= 1 {
			return false
		}
		ppid, ok := parentOf(pid)
		if !ok {
			return false
		}
		pid = ppid
	}
	return false
}

// parentOf reads pid's parent from /proc (Linux); ok is false where there
// is no /proc or the process is gone.
func parentOf(pid int) (ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// "pid (comm) state ppid ...": comm may itself hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return ppid, err == nil
}

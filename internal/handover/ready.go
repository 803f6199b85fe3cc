package handover

import (
	"context"
	"fmt"
	"net"
)

// The ready frame (type 12, receiver → sender) exists for a takeover
// (docs/TAKEOVER.md): a newcomer started by somebody else has no notify
// socket of the serving process to send READY=1 to, so it says it on the
// channel itself. The serving process then runs the cutover it runs for a
// self-upgrade: probation, then the drain that passes connections on this
// same channel. The frame may come at any moment after the hello, in the
// middle of a state transfer too, so the sender's reading loop takes it
// aside instead of handing it to the operation in progress. Its payload is
// reserved (empty; at most 8 bytes, ignored); a second ready frame is
// ignored.
//
// It needs no protocol version of its own (it came within version 2):
// only a process that listens on a takeover socket reads it, and every
// build that does knows it. A build without it (which never listens on a
// takeover socket) would refuse it as an unknown frame type (ErrProtocol)
// and keep its connections.

// Ready tells the sender that this side is ready to serve (a takeover). It
// may be called while a Next is in progress on another goroutine: it only
// writes one frame, which the sender takes aside. ErrAborted: the sender
// has gone (it gave up waiting, or died), so nobody will ever read it.
func (r *Receiver) Ready(ctx context.Context) error {
	if r.isClosed() {
		return fmt.Errorf("handover: ready: %w", ErrClosed)
	}
	done := interrupt(ctx, r.c.c.SetWriteDeadline)
	_, err := r.c.c.Write(r.c.frame(frameReady, 0, nil))
	if err = prefer(done(), err); err != nil {
		if peerGone(err) {
			return fmt.Errorf("handover: ready: %w: the sender has gone: %w", ErrAborted, err)
		}
		return fmt.Errorf("handover: ready: %w", err)
	}
	return nil
}

// Ready is closed once the receiver said it is ready (Receiver.Ready).
func (s *Sender) Ready() <-chan struct{} { return s.ready }

func (s *Sender) readied() {
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
}

// Gone is closed when the channel has ended for this side: the receiver
// closed its end or died (its kernel closed the socket), or this side was
// closed. A takeover watches it to tell a newcomer that died.
func (s *Sender) Gone() <-chan struct{} { return s.readerDone }

// KernelPID is the receiver's pid as the kernel reported it at the
// handshake, in this process's pid namespace (SO_PEERCRED on Linux,
// LOCAL_PEERPID on darwin): 0 when the receiver runs in a pid namespace
// this one cannot see into (its own hello then announces a pid of its own
// namespace, PeerPID, which means nothing here), -1 where the kernel does
// not say (FreeBSD).
func (s *Sender) KernelPID() int { return s.c.credPID }

// KernelPID is the sender's pid as the kernel reported it at the
// handshake, as Sender.KernelPID is the receiver's: when it differs from
// PeerPID (the pid the sender announced, in its own pid namespace), the
// two ends run in different pid namespaces, and pids the sender names
// mean nothing here.
func (r *Receiver) KernelPID() int { return r.c.credPID }

// AcceptConn makes uc, a connection accepted on a socket of the caller's
// own (a takeover socket, which must live at a path the operator chose,
// unlike Listen's), the sending end of a channel: the same checks and
// handshake as Listener.Accept (same uid; want.PID if set). On failure
// the peer is told why and uc is closed.
func AcceptConn(ctx context.Context, uc *net.UnixConn, want Peer) (*Sender, error) {
	c, err := handshake(ctx, uc, roleSender, want)
	if err != nil {
		return nil, err
	}
	return newSender(c), nil
}

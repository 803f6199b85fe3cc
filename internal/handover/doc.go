// Package handover is the channel on which an old generation hands live
// connections and an opaque state blob to its successor (issue 5). It is
// independent of how the generations were started: the old one Listens and
// passes Listener.Path in EnvSocket, the new one Dials it.
//
//	old generation                          new generation
//	ln, _ := Listen("")                     r, _ := Dial(ctx, os.Getenv(EnvSocket), Peer{PID: ppid})
//	s, _ := ln.Accept(ctx, Peer{PID: child})
//	s.SendState(ctx, v, snapshot)     →     it, _ := r.Next(ctx); io.Copy(cache, it.State); it.State.Accept()
//	s.SendConns(ctx, idle)            →     it, _ := r.Next(ctx); serve(it.Conn, it.Buffered, it.Meta)
//	s.Finish(ctx)                     ↔     r.Next(ctx) == io.EOF
//
// # Transport
//
// A unix stream socket, mode 0600, in a fresh directory of mode 0700 (its
// random name is created by the old generation, so nobody can plant it).
// Both ends check the peer's credentials from the kernel (SO_PEERCRED on
// Linux, LOCAL_PEERCRED/LOCAL_PEERPID on darwin, LOCAL_PEERCRED on
// FreeBSD): the same uid, always, and the expected pid when given.
//
// SOCK_STREAM rather than SOCK_SEQPACKET, because darwin has no
// SOCK_SEQPACKET for AF_UNIX. On a stream the kernel attaches SCM_RIGHTS
// descriptors to the bytes of the sendmsg that carried them and delivers
// them with the first read that returns any of those bytes. So the sender
// writes every frame that carries descriptors with one sendmsg starting at
// the frame's first byte, and the reader never asks for a byte beyond the
// frame it is reading: every descriptor received while reading a frame
// belongs to that frame. At most MaxFDsPerFrame (253, Linux's SCM_MAX_FD)
// ride on one frame; larger batches are split.
//
// # Frames (protocol versions 1 and 2)
//
// Every frame is a 12-byte header and a payload, big-endian:
//
//	magic "HOVR" | version u8 | type u8 | flags u16 | length u32 | payload
//
// The header is checked before anything is allocated: magic, version (the
// negotiated one; hello frames are always written as version 1), type,
// flags the type defines, and length against the type's limit (MaxPayload,
// 1 MiB, for conns and state chunks; a few bytes for the rest). Anything
// else is refused with ErrProtocol naming what was received.
//
//	type            dir  payload
//	1 hello         ↔    min u16, max u16, role u8, 3 reserved, pid u32 (later versions may append)
//	2 conns         →    seq u32, count u32, count × (buffered len u32, meta len u32, buffered, meta); count descriptors attached
//	3 conns-ack     ←    seq u32, count u32
//	4 state-begin   →    id u32, version u32 (the blob's own format version, the receiver's to judge)
//	5 state-chunk   →    up to 256 KiB of the blob
//	6 state-end     →    id u32, length u64, sha256 [32]; flag 1 = cancelled
//	7 state-result  ←    id u32, status u8 (1 accepted, 2 refused, 3 corrupt), reason
//	8 done          →    connections confirmed u64
//	9 done-ack      ←    connections confirmed u64
//	10 abort        ↔    reason (UTF-8, at most MaxReason bytes)
//	11 counters     →    version 2: count u16 (≤ MaxCounters), count × (key len u8, key, value u64 float64 bits)
//	12 ready        ←    reserved (empty, at most 8 bytes): takeover only (ready.go)
//
// The conversation: both ends write a hello, then read the other's. The
// version used is the highest in both ranges; with none in common, each
// side aborts naming both ranges (ErrVersion). The hello frame's layout
// and header version are frozen, so that builds of any version can read
// each other's and fail cleanly. Roles are fixed: the listener sends, the
// dialler receives; two of a kind are refused. Then the sender sends conns
// frames (each acknowledged before the next) and state blobs (begin,
// chunks, end, then the receiver's result) in any order, counters frames
// (version 2) whenever it likes, and finally done, which the receiver
// acknowledges when its Next reaches it.
//
// A takeover (the root package's Options.Takeover) uses the same
// conversation on a socket the caller listens on (AcceptConn): the sender
// first passes its listening sockets as a conns frame, and the receiver
// says it is ready with a ready frame, which the sender's reading loop takes
// aside at any moment (Sender.Ready); Sender.Gone and Sender.KernelPID let
// the sender follow a receiver that is not its child, and
// Receiver.KernelPID tells the receiver whether the sender's pids mean
// anything in its pid namespace. Between two supervisors the state blob
// after the sockets carries the serving one's introductions of its
// workers (internal/takeover, intro.go).
//
// Version history:
//
//	1: the first version.
//	2: the counters frame (counters.go): a generation's cumulative counts
//	   for its successor, so metrics add up across generations. Unacknowledged;
//	   each frame supersedes the sender's earlier ones. A version-1 peer gets
//	   none (SendCounters: ErrNotInVersion).
//	   The ready frame (12) was added within version 2: only a takeover
//	   listener reads it, and every build that listens on one knows it;
//	   any other build refuses it as an unknown type.
//
// # Ownership of connections, and what each failure does
//
// The rule, after ngrok-oss/tableroll: zero owners is better than two. A
// connection read by two processes loses or splits a client's bytes
// silently; a connection that nobody owns is closed, which the client sees
// and can retry. Within that rule this protocol keeps connections alive
// whenever it can tell who owns them:
//
// The receiver confirms a conns frame (conns-ack) after it read and checked
// the frame, made every descriptor a connection and found a taker for each
// (Receiver.Admit), and before it hands out any of them: it never
// acknowledges a connection it cannot serve. The sender
// keeps its own descriptors until the ack arrives, then closes them with
// close(2) only: the socket lives on in the receiver, so the client sees
// neither FIN nor RST (no shutdown(2), no SO_LINGER; a socket sends FIN or
// RST only when its last descriptor closes).
//
// Per message, what a failure means:
//
//   - hello: wrong uid or pid, no common version, wrong role, garbage: the
//     refusing side writes an abort with the reason and closes; nothing was
//     transferred. The listener stays open for another attempt.
//   - conns, write fails or is cut short (ctx, channel broken): the frame
//     cannot arrive whole; the receiver closes the descriptors of a
//     truncated frame without using them. The sender still owns the
//     connections and SendConns does not count them.
//   - conns, the receiver aborts or its end closes before the ack: since
//     the ack precedes any use, and the stream is ordered, an ack that does
//     not come before the end was never sent: the receiver never used them.
//     The sender keeps them (SendConns returns ErrAborted without counting
//     them), and the old generation goes on serving. In-flight descriptors
//     the receiver never read are released by its kernel.
//   - conns, the ack does not come before ctx ends, or the receiver speaks
//     garbage: the sender cannot tell. It closes its copies (ErrUnconfirmed,
//     counted as gone): if the receiver took them it is their only owner;
//     if not, nobody is, and the clients see the connection close.
//   - conns, malformed (count and descriptors disagree, bad records,
//     descriptors on another frame type, more than 253): the receiver closes
//     every descriptor of the frame, does not ack, aborts with the reason.
//     The sender keeps the connections (the abort precedes any ack).
//   - conns, the receiver cannot serve the frame (its kernel dropped
//     descriptors at EMFILE: MSG_CTRUNC; a dup into a connection failed;
//     Admit refused one, say the listener it was for no longer takes any):
//     the receiver closes its copies, does not ack, aborts with the reason
//     (ErrNotServed). The sender keeps the connections and serves them.
//   - conns-ack write fails on the receiver: if the sender's end is gone
//     (EPIPE, ECONNRESET) it cannot resume them, so the receiver hands them
//     out; if the write was cut short (ctx), the sender may yet resume
//     them, so the receiver closes its copies.
//   - after the ack, the receiver dies or closes before handing a
//     connection out (Receiver.Close closes the ones not handed out): that
//     connection has no owner and closes. This is the window the protocol
//     cannot close, by the rule above.
//   - state-begin/chunk/end: a blob is streamed and never held whole; the
//     sender's SHA-256 in state-end is checked against what arrived
//     (ErrChecksum on both sides, status corrupt). If the sender's source
//     fails it sends state-end with the cancelled flag and expects no
//     result (ErrStateCancelled on the receiver). Both ends stay usable in
//     these cases.
//   - state-result: the receiver may refuse at any time, with a reason.
//     The sender checks for a refusal between chunks and cancels the rest,
//     so refusing 1 GiB early costs a chunk or two. A refusal that crosses
//     a cancellation is recognised by its id and ignored.
//   - done/done-ack: done carries the count of confirmed connections and
//     the receiver checks it; done-ack tells the sender that the receiver
//     consumed everything. A disagreement is ErrProtocol.
//   - counters: nothing is acknowledged and nothing depends on it. A
//     malformed frame (lengths, a duplicate or control-character key, a
//     value negative, infinite or NaN, over MaxCounters series or its
//     byte limit, descriptors attached) or one in version 1 is ErrProtocol:
//     the receiver aborts, and the sender keeps every connection it has not
//     seen confirmed. A sender that dies before its last counters frame
//     loses what it counted since the one before.
//   - abort, or the socket closing without done: the other side stops
//     with ErrAborted and its reason. Connections confirmed before are the
//     receiver's and are still handed out by Next; everything unconfirmed
//     stays the sender's.
//
// Every wait is bounded by the caller's context (an expired context sets a
// past deadline on the socket); Close interrupts whatever is in progress.
//
// # Limits
//
// MaxPayload 1 MiB per frame; MaxFDsPerFrame 253; MaxBuffered 512 KiB and
// MaxMeta 64 KiB per connection (so each connection fits one frame);
// MaxReason 1 KiB; a counters frame at most MaxCounters (512) series of
// keys up to MaxCounterKey (200) bytes. State blobs have no size limit:
// each side holds one 256 KiB chunk at a time (a 256 MiB blob moved with under 4 MiB of heap
// growth in the tests). On Linux the kernel also caps descriptors in
// flight per user at RLIMIT_NOFILE; the ack per frame keeps at most one
// frame in flight.
//
// # Not only connections
//
// A conns record carries any descriptor the receiver knows what to do
// with, named by its meta, which this package does not read. The library
// passes QUIC forwarding links this way (meta "q" "quicroute/1 gen=<n>
// addr=<a> n=<links>", the CID key in the first record's Buffered;
// docs/PROTOCOL.md section 6): no frame kind of its own is needed.
//
// net.FileConn, which turns a received descriptor into a net.Conn, applies
// Go's default TCP keep-alive settings to the connection; it cannot carry
// TLS state, and Buffered bytes must be plaintext the new generation can
// parse.
package handover

// Package quicroute keeps QUIC connections alive across a handoff (issue
// 14): every generation of a server shares one UDP socket, and the
// datagrams of a connection reach the generation that owns it, whichever
// generation reads the socket.
//
// Without it, the new generation reads the shared socket after cutover,
// receives the old generation's datagrams, knows none of their connection
// IDs and drops them (or, with a StatelessResetKey, resets the
// connections): requests in flight on old connections fail. Measured in
// one run of this package's tests (quic-go's http3 client, 8 loops, no
// retries, -race): without routing (TestNaiveCutover_LosesRequests) 24
// of 1,302 requests failed, 8 of them by stateless reset, and all 3
// requests held across a cutover, over 3 cutovers; with routing
// (TestRepeatedCutoversUnderLoad_NoFailedRequests) 0 of 3,396 and 0 of 9
// held, over 9 cutovers.
//
// # Connection IDs that name their generation
//
// A Codec, built from a Key every generation shares, makes server CIDs of
// CIDLen (16) bytes: AES-128(key, generation u32 | "hoff" | 64 random
// bits), the block-cipher mode of QUIC-LB. Codec.Generator is the
// quic.ConnectionIDGenerator for a generation; Codec.Owner reads the
// destination CID of a datagram, long header (length in the header) or
// short header (fixed CIDLen), and says which generation made it, or
// ErrNotOurs (a client's own Initial DCID, noise) or ErrUnparseable. The
// encryption keeps CIDs unlinkable for observers (RFC 9000 §5.1), as a
// plaintext tag would not. Generation numbers must not repeat while one
// Key is in use: the library's generation counter, never reset while the
// key lives, is the tag.
//
// # Routing
//
// Conn wraps one generation's copy of the shared socket for its
// quic.Transport. It keeps quic-go's fast path (it offers ReadBatch, so
// quic-go still uses recvmmsg; writes, GSO, ECN and packet info go to the
// socket untouched) and sorts what it reads:
//
//	DCID (short or long header)            goes to
//	this generation's                      this generation's quic-go
//	not ours, long header                  this generation (a new connection)
//	not QUIC at all                        this generation (quic-go's non-QUIC path)
//	an older generation's, linked          that generation's link
//	not ours, short header                 dropped
//	another generation's, not linked       dropped
//
// Nothing that is not this generation's own short-header CID ever reaches
// its quic-go, so no generation sends a stateless reset for a CID it does
// not own, whatever its StatelessResetKey (leaving it nil is still the
// advice: an old generation that exited takes its connections with it,
// and only their own generation could reset them correctly).
//
// Cutover is old.Stop, then new.Start: exactly one generation reads the
// shared socket at any time, and datagrams that arrive in between wait in
// the socket's receive queue (it is one queue: the generations hold
// descriptors for one open socket). After Stop the old generation reads
// only its link and keeps writing on its own copy of the socket, so its
// replies come from the same address and port. If the successor fails
// before Start, old.Resume takes the socket back.
//
// Known limit: a client's first flight uses a DCID the client chose, so
// an Initial retransmitted across the cutover goes to the new generation,
// which begins a second handshake; the client keeps whichever server
// answered first and the other handshake times out. No request is lost
// (none was sent yet); the client may see one extra round trip.
//
// # Links, and chains of generations
//
// A link is a connected AF_UNIX SOCK_DGRAM socketpair, made by the
// generation that receives on it (New). SOCK_DGRAM rather than
// SOCK_SEQPACKET because darwin has no SOCK_SEQPACKET for AF_UNIX; on a
// connected pair it is just as reliable and ordered, and the end of the
// peer shows as ECONNREFUSED on the next write, which removes the route.
// Writes never block: when an old generation falls behind by the link's
// send buffer (2 MiB asked, capped by net.core.wmem_max), the newest
// drops the datagram (Stats.DroppedLinkFull) as a full UDP socket would,
// and QUIC's loss recovery resends it; the newest generation's own
// traffic never waits for an old one.
//
// Chains (A→B→C while A still drains): the newest generation holds a
// direct link to every live older generation. Conn.Links returns this
// generation's own link and a duplicate of every route it holds; the
// successor adds them all. The alternative, C forwarding to B and B on to
// A, costs a hop per generation and, worse, makes A's connections depend
// on B staying alive: B can finish draining and exit before A (A may hold
// a long request B never had). A direct link costs one descriptor per live
// generation. TestRepeatedCutoversUnderLoad_NoFailedRequests keeps nine
// generations alive at once.
//
// # Forwarding frames (version 1)
//
// One datagram on the shared socket becomes one datagram on a link:
//
//	off  size  field
//	0    1     version, 1 (FrameVersion); any other is refused (ErrFrame)
//	1    1     address length: 4 (IPv4) or 16 (IPv6)
//	2    2     source port, big-endian
//	4    4     IPv6 zone as an interface index, big-endian; 0 for none
//	8    2     control length C, big-endian, at most MaxControl (512)
//	10   A     source address
//	10+A C     the control messages the kernel delivered with the
//	           datagram (ECN, destination address for packet info), as
//	           struct cmsghdr records: both ends are on the same host
//	10+A+C     the datagram, unchanged
//
// A receiver that reads a version it does not know drops the frame and
// counts it (Stats.BadFrames); a later version that needs more than this
// header bumps the version byte.
//
// # Cost, measured
//
// BenchmarkDatagramsPaired alternates 4 MiB uploads over three paths in
// one run (2-core machine shared with other work; per run the median of
// 60 rounds; 5 runs): the newest generation's own connections with an
// older generation linked (every datagram decoded, none forwarded) ran at
// 0.95, 1.00, 0.99, 0.98, 0.98 of a plain quic-go server (160k-245k
// datagrams/s); an old generation's connection, forwarded, at 0.56-0.70
// (median 0.58: one more write and read per datagram, and the old
// generation's reader wakes once per queued batch). Decoding a DCID costs
// about 30 ns (BenchmarkOwner).
// Why forwarding rather than a reuseport BPF program steering by CID: a
// BPF program needs one SO_REUSEPORT socket per generation, each with its
// own receive queue, so a generation's exit drops whatever is queued on
// its socket (the TCP trap in the field notes, for UDP); it is Linux-only
// and needs CAP_BPF or CAP_SYS_ADMIN; and the forwarding it saves is paid
// only by old connections while they drain.
//
// # Platforms
//
// Conn and links need unix datagram socketpairs: linux, darwin and
// freebsd. Elsewhere (windows) New returns ErrUnsupported and a server
// runs quic-go unrouted. The Codec and frame parsing are portable.
//
// # How it plugs into the library
//
// handoff.ListenQUIC (root quic.go, quic_route_unix.go, quic_link.go;
// docs/HTTP3.md) returns what http3.Server.ServeListener takes: the
// shared UDP socket comes as any other (ListenPacket, inherited by
// LISTEN_FDS); a first generation makes the Key (NewKey) and is Active; a
// successor is made in standby without a Codec (Config.Codec nil,
// Conn.Generator for its quic.Transport) and gets the Key with its links
// at cutover (SetCodec, AddRouteConn, Start). The generation number is the
// library's; StatelessResetKey stays nil.
//
// The links travel over the handover channel (internal/handover), not as
// their own LISTEN_FDS entries: they exist only from the moment of
// handover, their set changes with every generation (one per live older
// generation), and the exchange must be sequenced with cutover, which the
// channel already is; LISTEN_FDS is fixed at exec and would have the
// supervisor own fds that belong to generations. The old generation, at
// its drain, calls Stop, then sends its Links in one conns frame, each as
// one descriptor with meta "q" "quicroute/1 gen=<n> addr=<a> n=<links>",
// the Key as the first record's buffered bytes (docs/PROTOCOL.md section
// 6); the new one adds the routes, sets the codec and Starts. If nothing
// was passed, the old one calls Resume. No new frame type was needed.
package quicroute

// Package control is the wire protocol between `handoff run` (the
// supervisor) and the commands that drive it (`handoff upgrade`, `status`,
// `stop`), and the unix socket it travels on.
//
// The protocol is plain HTTP/1.1 with JSON bodies on a unix stream socket,
// so `curl --unix-socket SOCK http://handoff/status` works as well as the
// handoff command does:
//
//	GET  /status   one Status object
//	POST /upgrade  a stream of Event objects, one JSON object per line
//	               (application/x-ndjson), flushed as each stage happens;
//	               the last one has Final set and carries the Result
//	POST /stop     one Event: the supervisor drains its workers and exits
//
// Every response carries the header "Handoff-Control: <Version>". A client
// that sees another version refuses to interpret the body (ErrVersion), so
// a new handoff command never misreads an old supervisor or the reverse.
//
// The socket is created mode 0600 inside a directory of mode 0700, and the
// server also checks each peer's credentials (SO_PEERCRED on Linux,
// LOCAL_PEERCRED elsewhere): only the supervisor's own uid and root may
// drive it; anybody else gets 403 and a message saying why. The server
// bounds what a client can hold (Limits: a connection cap, header, idle and
// per-write timeouts).
//
// The client trusts a socket no more than the server trusts its clients: it
// refuses (ErrUntrusted, naming the socket) one in a directory that another
// user owns or may write to, and one whose listening process runs as
// another uid than its own or root, before it reads any answer. So another
// local user who creates /tmp/handoff-<uid> first cannot pass a fake
// supervisor off as ours. Peer credentials exist on Linux, macOS and
// FreeBSD only; elsewhere every peer is refused.
package control

// Version is the control protocol version, sent in the Handoff-Control
// header of every response.
//
//	1: the first version (this one).
const Version = "1"

// HeaderVersion names the response header that carries Version.
const HeaderVersion = "Handoff-Control"

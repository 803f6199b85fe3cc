// Package takeover is the rendezvous of a takeover (docs/TAKEOVER.md): a
// unix socket at a path the operator chose, where the serving process
// listens and a process started by anyone else connects to take its
// sockets over on a handover channel (internal/handover). It holds what
// any taker-over needs, whether the library (the root package) or a
// supervisor: the checks of the path, the lock that lets one newcomer at a
// time through, the atomic replacement of the listener (and its passing
// across a re-exec in place: DupListener, Adopt), the record that names
// each socket passed (SocketMeta), and a supervisor's introductions of its
// workers (Intro). What happens on the channel is the caller's.
//
//   - The directory must belong to this uid and have no permission for
//     group or others (0700); the socket is created 0600 and checked so
//     before a newcomer connects. Mode bits do not stop root: the peer's
//     uid, checked by the kernel on both ends of the channel, does.
//   - A newcomer takes flock(path+".lock", LOCK_EX|LOCK_NB) and holds it
//     until it listens on the path or gives up; a second one meanwhile
//     gets ErrBusy without touching the serving process. The lock file is
//     never removed (that races with the next locker).
//   - The path always names a listener while someone serves: a new holder
//     binds a temporary name in the same directory and rename(2)s it over
//     the path. A holder that was replaced keeps its listener, now
//     unreachable, and removes the path at Close only if the file there
//     is still the one it created (same inode).
//   - A socket file nobody listens on (connect refused: its process
//     crashed) is stale: Dial reports it, and the next Listen replaces it.
//
// Unix only; on Windows only SocketMeta and Intro build.
package takeover

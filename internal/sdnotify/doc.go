// Package sdnotify speaks systemd's sd_notify datagram protocol, which
// handoff uses for readiness between process generations.
//
// A child reports state by sending one datagram of newline-separated
// KEY=VALUE assignments (READY=1, STATUS=..., MAINPID=...) to the unix
// datagram socket named by $NOTIFY_SOCKET. The same bytes work whether that
// socket belongs to systemd or to a handoff supervisor, so a service never
// needs to know which one started it.
//
// The sending side is [Send] and [Barrier]; the listening side is
// [Listen] and [Receiver]. [Parse], [Format] and [Message] handle the
// payload.
//
// Messages (Parse, Format) work everywhere; the sockets need unix datagram
// sockets, so on Windows Listen, Send and Barrier return ErrNotSupported.
package sdnotify

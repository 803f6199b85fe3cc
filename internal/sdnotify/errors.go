package sdnotify

import "errors"

// ErrNoSocket is returned by Send and Barrier when socket is empty, i.e.
// when NOTIFY_SOCKET is unset. It is returned unwrapped: callers usually
// treat it as "nobody is listening" and carry on, as sd_notify does.
var ErrNoSocket = errors.New("sdnotify: no notify socket")

// ErrNotSupported is returned by Listen, Send and Barrier on systems
// without unix datagram sockets (Windows): sd_notify cannot be spoken there.
var ErrNotSupported = errors.New("sdnotify: not supported on this system")

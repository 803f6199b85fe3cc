package supervisor

import (
	"errors"
	"runtime"
)

// ErrCrashLoop is returned by Run when workers kept crashing (see
// Config.CrashLimit).
var ErrCrashLoop = errors.New("crash loop")

// ErrStartFailed is returned by Run when the first generation could not
// start or become ready: there is nothing to keep serving.
var ErrStartFailed = errors.New("first generation failed")

// ErrNotSupported is returned by New on systems where the supervisor is
// not available: anything but unix (Windows), which cannot pass listening
// sockets to a child process or speak sd_notify.
var ErrNotSupported = errors.New("supervisor: not supported on " + runtime.GOOS)

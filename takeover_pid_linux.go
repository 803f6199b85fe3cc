package handoff

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// pidWatch follows a newcomer by its pidfd: a pid opened while its
// takeover channel is up names that process for good, reused or not.
type pidWatch interface {
	exited() <-chan struct{}
	kill()
}

type pidfdWatch struct {
	gone chan struct{}
	mu   sync.Mutex // guards fd: closed (-1) once the process is gone
	fd   int
}

// watchPID opens pid's pidfd; nil when pid is 0 (not visible in our pid
// namespace) or cannot be opened.
func watchPID(pid int) pidWatch {
	if pid <= 0 {
		return nil
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil
	}
	w := &pidfdWatch{fd: fd, gone: make(chan struct{})}
	go func() {
		// The pidfd stays open for kill until the process is gone; a
		// newcomer that outlives this process costs one descriptor.
		defer func() {
			w.mu.Lock()
			unix.Close(w.fd)
			w.fd = -1
			w.mu.Unlock()
			close(w.gone)
		}()
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil || n > 0 {
				return
			}
		}
	}()
	return w
}

func (w *pidfdWatch) exited() <-chan struct{} { return w.gone }

func (w *pidfdWatch) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd >= 0 {
		unix.PidfdSendSignal(w.fd, unix.SIGKILL, nil, 0)
	}
}

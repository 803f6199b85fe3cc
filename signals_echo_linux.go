package handoff

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// echoWait bounds how long a stop signal during the drain waits to learn
// whether the supervisor is dying: its threads exit one by one, and until
// the last has, getppid still names it.
const echoWait = time.Second

// parentDeathEcho: see links. The supervisor sends SIGKILL, never a
// second SIGTERM, to cut a drain short, so a TERM that comes while it
// dies is the kernel's parent-death signal: once per exiting thread of the
// supervisor, the children reparented first to its remaining threads
// (getppid unchanged), then to init or a subreaper.
func (c *chain) parentDeathEcho() bool {
	if !c.isSupervised || c.supervisorPID <= 0 {
		return false
	}
	if os.Getppid() != c.supervisorPID {
		return true
	}
	fd, err := unix.PidfdOpen(c.supervisorPID, 0)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(echoWait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return os.Getppid() != c.supervisorPID
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return os.Getppid() != c.supervisorPID
		case n > 0:
			return true // the supervisor exited
		}
	}
}

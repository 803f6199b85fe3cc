//go:build !windows

package takeover

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Accept hands every connection accepted on ln to handle, on a goroutine
// of its own, until ln is closed. An accept error that is not the close
// (EMFILE and the like) is logged and retried after a pause, not in a
// spin; stop ends the pause and the loop.
func Accept(ln *net.UnixListener, log *slog.Logger, stop <-chan struct{}, handle func(*net.UnixConn)) {
	for {
		uc, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Warn("handoff: takeover: accept", "err", err)
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				return
			}
			continue
		}
		go handle(uc)
	}
}

//go:build !windows

package handoff

import (
	"context"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/handoff-go/handoff/internal/activation"
)

// fdStoreTimeout bounds each FDSTORE=1 send: Ready must not hang on a
// service manager that does not read its socket.
const fdStoreTimeout = time.Second

// fdStoreOffered reports whether systemd keeps an fd store for this
// service: $FDSTORE is a positive count. systemd 254 and later set it from
// FileDescriptorStoreMax=; on 252 and 253 a unit sets it itself
// (Environment=FDSTORE=8 next to FileDescriptorStoreMax=8).
func fdStoreOffered() bool {
	n, err := strconv.Atoi(os.Getenv("FDSTORE"))
	return err == nil && n > 0
}

// storeFDs hands this generation's sockets to systemd's fd store, each
// under its LISTEN_FDNAMES name (FDSTORE=1, FDNAME=), so that the next start
// of the service after `systemctl restart` or a crash gets the very sockets
// back as LISTEN_FDS and Listen claims them by name: connections waiting in
// their accept queues outlive the process. It runs in Ready, before READY=1.
//
// It does nothing under the handoff supervisor (which holds the sockets
// and has a store of its own), with Options.NoFDStore, or when systemd
// offers no store. systemd ignores a descriptor it already holds, so the
// sockets a generation inherited from the store or from its predecessor
// are not stored twice. A failure is logged: the process serves as well
// without the store, only its restarts are no longer hitless.
func (c *chain) storeFDs() {
	if c.isSupervised || c.h.opts.NoFDStore || c.upstream == "" || !fdStoreOffered() {
		return
	}
	c.h.mu.Lock()
	socks := append([]*socket(nil), c.h.sockets...)
	c.h.mu.Unlock()
	for _, s := range socks {
		var err error
		stored := false
		store := func(fd uintptr) {
			if _, serr := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE); serr != nil {
				return // a file passed with Handoff.File: not the store's business here
			}
			ctx, cancel := context.WithTimeout(context.Background(), fdStoreTimeout)
			defer cancel()
			err = activation.Store(ctx, c.upstream, s.name, int(fd))
			stored = err == nil
		}
		switch {
		case s.rc != nil:
			if cerr := s.rc.Control(store); cerr != nil {
				err = cerr
			}
		case s.fd >= 0:
			store(uintptr(s.fd))
		default:
			continue
		}
		if err != nil {
			c.log.Warn("handoff: fd store", "name", s.name, "err", err)
			continue
		}
		if stored {
			// The store keeps the socket beyond this chain: its path must
			// stay for the next start to be reachable.
			c.h.mu.Lock()
			s.unlinkPath = ""
			c.h.mu.Unlock()
			c.log.Debug("handoff: socket in the service manager's fd store", "name", s.name)
		}
	}
}

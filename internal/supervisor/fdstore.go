//go:build unix

package supervisor

import (
	"context"
	"net"
	"os"
	"strings"
	"time"

	"github.com/handoff-go/handoff/internal/activation"
)

// FDStore modes (Config.FDStore, `handoff run --fd-store`).
const (
	// FDStoreAuto stores the sockets when the service manager says it
	// keeps a store for this service: $FDSTORE is a positive count
	// (systemd 254+ sets it; on 252 and 253 the unit sets
	// Environment=FDSTORE=N next to FileDescriptorStoreMax=N).
	FDStoreAuto = "auto"
	// FDStoreOn stores them whenever NOTIFY_SOCKET is set: systemd 252 and
	// 253 keep them if the unit has FileDescriptorStoreMax= (and log a
	// warning and drop them if not).
	FDStoreOn = "on"
	// FDStoreOff never stores them.
	FDStoreOff = "off"
)

// fdStoreTimeout bounds each FDSTORE=1 send: a manager that does not read
// its socket must not hang the supervisor's start.
const fdStoreTimeout = time.Second

// fdStoreWanted says whether the sockets go to the fd store, from the
// mode and the environment systemd gave us.
func fdStoreWanted(mode string) (bool, error) {
	switch mode {
	case "", FDStoreAuto:
		return activation.FDStoreOffered(os.Getenv), nil
	case FDStoreOn:
		return os.Getenv("NOTIFY_SOCKET") != "", nil
	case FDStoreOff:
		return false, nil
	}
	return false, configError("fd store %q: want auto, on or off", mode)
}

// storeSockets hands every socket the supervisor bound itself to systemd's
// fd store, each under its --listen name, so that the next start of the
// service (systemctl restart, Restart= after a crash) gets the very same
// sockets back as LISTEN_FDS and adoptInherited matches them by name: the
// kernel's accept queue, and every connection waiting in it, outlives the
// supervisor. Inherited sockets are not stored: a socket unit keeps its
// own, and a socket from the store is still in it (storing a socket unit's
// socket would pass it twice at the next start).
//
// A failure is logged, not fatal: the supervisor serves as well without
// the store, only its restarts are no longer hitless.
func (s *Supervisor) storeSockets(mode string) error {
	on, err := fdStoreWanted(mode)
	if err != nil || !on {
		return err
	}
	socket := os.Getenv("NOTIFY_SOCKET")
	for _, b := range s.sockets {
		if b.inherited {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), fdStoreTimeout)
		err := activation.Store(ctx, socket, b.spec.Name, b.fd)
		cancel()
		if err != nil {
			s.log.Warn("handoff: fd store", "socket", b.String(), "err", err)
			continue
		}
		b.stored = true
		// The stored socket outlives us: its path must stay too, or the
		// next supervisor would listen on a socket nobody can reach.
		if l, ok := b.closer.(*net.UnixListener); ok {
			l.SetUnlinkOnClose(false)
		}
		b.unlink = ""
		s.log.Info("handoff: socket in the service manager's fd store", "socket", b.String())
	}
	return nil
}

// withoutFDStore drops $FDSTORE from the workers' environment: it
// describes the supervisor's service, and a worker's library would
// otherwise offer its sockets to the supervisor's notify socket.
func withoutFDStore(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "FDSTORE=") {
			out = append(out, kv)
		}
	}
	return out
}

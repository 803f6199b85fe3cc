// Command chat is a line-based TCP echo server whose clients stay connected
// across upgrades: the example of handing over a program's own connections
// (Handoff.PassConns and Handoff.InheritedConns), for any protocol.
//
//	chat [-addr 127.0.0.1:7070] [-probation D] [-v]
//
// Each line a client sends is answered with one line:
//
//	<the client's line> | n=<lines served on this connection> pid=<serving pid>
//
// SIGHUP or SIGUSR2 upgrades it. When the old generation drains, it stops
// reading each connection at a line boundary and hands it over with the
// bytes of a line it had begun to read and the connection's counter: the
// new generation answers the next line on the same TCP connection, and
// the counter goes on where it stopped, with no line lost or answered twice.
//
// Try it:
//
//	go run ./examples/chat &
//	nc 127.0.0.1 7070        # type lines; in another terminal: kill -HUP <pid>
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
)

func main() {
	serverflags.Main("chat", "127.0.0.1:7070", run)
}

func run(h *handoff.Handoff, ln net.Listener, logger *slog.Logger) error {
	s := newServer(logger)
	// Connections the previous generation hands over; asked for before
	// Ready, so none arrives with nobody to take it.
	handed := h.InheritedConns()
	go func() {
		for c := range handed {
			s.serve(c.Raw, c.Buffered, c.Meta)
		}
	}()
	go s.acceptLoop(ln)
	if err := h.Ready(); err != nil {
		logger.Warn("chat: ready", "err", err)
	}
	// Printed for scripts and tests: the address and the serving pid.
	fmt.Fprintf(os.Stderr, "chat: listening on %s pid=%d\n", ln.Addr(), os.Getpid())

	<-h.Draining()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.handOver(ctx, h)
	return nil
}

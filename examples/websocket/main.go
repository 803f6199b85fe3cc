// Command websocket is a WebSocket echo server, written with the standard
// library alone (the RFC 6455 handshake and framing are in handshake.go and
// frame.go), that shows what an upgrade does to connections that cannot
// move to the next generation: when the old generation drains, every
// WebSocket gets a Close frame with status 1012, Service Restart
// (wsclose.Restart), and its client reconnects at once, to the new
// generation, which already accepts on the same socket.
//
//	websocket [-addr 127.0.0.1:8082] [-probation D] [-v]
//
// GET /ws opens a WebSocket (version 13; the 101 answer carries the
// serving pid in X-Pid). Each text message is answered with
//
//	<serving pid> <the message>
//
// binary messages are echoed as they are, pings get pongs, and a Close
// frame is echoed before the server closes the connection.
//
// SIGHUP or SIGUSR2 upgrades it. Once the new generation is ready and the
// probation window has passed, the old one drains: each session's writer
// loop sees handoff.DrainingFrom(r.Context()) close, sends the 1012 Close
// frame, sends nothing more, waits up to 2 s for the client's Close frame
// and closes the connection. handoff.Serve returns once the HTTP
// connections are drained but does not wait for hijacked ones, so the
// program waits for its sessions (bounded) before it exits. Messages the
// old generation received after its Close frame go unanswered: a client
// sends again, to the new generation, what was not answered. SIGTERM
// drains the same way, with 1012 too (the drain cannot tell a stop from a
// handover), and exits.
// websocket_test.go has such a client: 20 of them keep sending through 5
// upgrades, and every message is answered once, in order.
//
// Try it, with any WebSocket client (websocat, a browser's console):
//
//	go build -o /tmp/ws ./examples/websocket && /tmp/ws &
//	websocat ws://127.0.0.1:8082/ws       # type lines
//	kill -HUP <pid>                       # the client is closed with 1012
//
// Left out, as an example may: Origin checks (a server that browsers
// reach must check Origin), TLS, extensions such as permessage-deflate,
// subprotocols, and pings to find dead clients.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
)

func main() {
	serverflags.Main("websocket", "127.0.0.1:8082", run)
}

func run(h *handoff.Handoff, ln net.Listener, logger *slog.Logger) error {
	s := newServer(logger)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.handleWS)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	go announce(h, ln.Addr())
	// Serve declares this generation ready and returns when it has
	// drained.
	err := h.Serve(context.Background(), srv, ln)

	// Serve does not wait for hijacked connections: the sessions are
	// closing now (1012), give them the time to finish.
	ctx, cancel := context.WithTimeout(context.Background(), closeWait+3*time.Second)
	defer cancel()
	left := s.wait(ctx)
	s.closeAll()
	logger.Info("websocket: sessions closed", "answered_1012", s.replied.Load(),
		"no_answer", s.timedOut.Load(), "gone", s.vanished.Load(), "cut", left)
	return err
}

// announce prints, for scripts and tests, the address and the serving pid
// once Serve has declared this generation ready.
func announce(h *handoff.Handoff, addr net.Addr) {
	for {
		phase, changed := h.Phase()
		switch phase {
		case handoff.PhaseStarting:
			<-changed
			continue
		case handoff.PhaseStopped:
			return
		}
		fmt.Fprintf(os.Stderr, "websocket: listening on %s pid=%d\n", addr, os.Getpid())
		return
	}
}

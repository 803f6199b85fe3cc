// Command grpc is a gRPC server (grpc-go) built on handoff: it upgrades
// without failing an RPC. It gets its listener from handoff, serves with
// grpc.NewServer, and when a successor has taken over it stops with
// GracefulStop: every connection gets GOAWAY, clients reconnect to the new
// generation (which already accepts on the same socket), and the RPCs in
// flight here finish first.
//
//	grpc [-addr 127.0.0.1:8081] [-pidfile FILE] [-v]
//	grpc -client [-addr 127.0.0.1:8081] [-conns 4] [-workers 4] [-duration 10s]
//
// To watch it:
//
//	go build -o /tmp/grpc-hello ./examples/grpc
//	/tmp/grpc-hello -pidfile /tmp/grpc-hello.pid &
//	/tmp/grpc-hello -client -duration 20s &
//	kill -HUP $(cat /tmp/grpc-hello.pid)   # as often as you like
//
// The client mode makes unary calls in a loop over a few long-lived
// connections, with retries disabled (grpc.WithDisableRetry), and prints the
// calls, the failures (every error counts) and the pids that answered. It
// exits 1 if a call failed.
//
// The service is handoff.example.Hello, registered by hand with protobuf's
// well-known wrapper types as messages (no protoc): Hello(StringValue)
// answers "<pid>\nhello <name> from handoff\n", and Slow(Duration) sleeps
// that long (at most a minute) first. The pid is also in the x-pid response
// header. The standard health service (grpc.health.v1.Health) reports
// SERVING until the drain begins.
//
// SIGHUP or SIGUSR2 upgrades (the binary at the same path starts with the
// socket); SIGTERM drains and exits. The drain is bounded by -drain-timeout,
// after which the remaining RPCs are cut (Server.Stop).
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/handoff-go/handoff"
	"github.com/handoff-go/handoff/examples/internal/serverflags"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on (or, with -client, to call)")
	pidfile := flag.String("pidfile", "", "write the serving pid here")
	probation := flag.Duration("probation", 0, "how long to keep the socket after a successor is ready (0: the library's default)")
	drainTimeout := flag.Duration("drain-timeout", 30*time.Second, "how long GracefulStop may wait for RPCs in flight before Stop cuts them")
	readyTimeout := flag.Duration("ready-timeout", 0, "how long a new generation may take to be ready (0: default)")
	verbose := flag.Bool("v", false, "log what happens to stderr")
	client := flag.Bool("client", false, "call the server at -addr instead of serving")
	conns := flag.Int("conns", 4, "client: connections (grpc.ClientConn)")
	workers := flag.Int("workers", 4, "client: concurrent callers per connection")
	duration := flag.Duration("duration", 10*time.Second, "client: how long to call")
	flag.Parse()

	if *client {
		os.Exit(runClient(*addr, *conns, *workers, *duration))
	}

	logger := serverflags.Logger(*verbose)
	err := serve(*addr, *drainTimeout, handoff.Options{
		PIDFile:      *pidfile,
		Probation:    *probation,
		ReadyTimeout: *readyTimeout,
		Logger:       logger,
	}, logger)
	serverflags.Exit("grpc", err)
}

// serve runs one generation: listen through handoff, serve, declare
// readiness, and at the drain stop gracefully.
func serve(addr string, drainTimeout time.Duration, opts handoff.Options, log *slog.Logger) error {
	// The listener is inherited from the previous generation (no bind,
	// the accept queue is shared), or bound. It pauses while a successor
	// is in probation and stops accepting when this generation drains.
	h, ln, err := serverflags.Listen(opts, addr)
	if err != nil {
		return err
	}
	defer h.Stop()

	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	srv.RegisterService(&helloServiceDesc, helloServer{pid: strconv.Itoa(os.Getpid())})

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := h.Ready(); err != nil {
		log.Warn("grpc: ready", "err", err)
	}

	select {
	case <-h.Draining():
	case err := <-served:
		// The drain makes Accept fail with net.ErrClosed, and Serve
		// returns that error: it is the drain, not a failure.
		select {
		case <-h.Draining():
		default:
			if err == nil {
				err = errors.New("server stopped")
			}
			return fmt.Errorf("serve %s: %w", ln.Addr(), err)
		}
		if err != nil && !errors.Is(err, net.ErrClosed) {
			log.Warn("grpc: serve ended", "err", err)
		}
	}

	// A successor took over (or SIGTERM): GOAWAY to every connection,
	// wait for the RPCs in flight, bounded.
	start := time.Now()
	hs.Shutdown() // health checks answer NOT_SERVING from now on
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
		log.Info("grpc: drained", "took", time.Since(start).Round(time.Millisecond))
	case <-timer.C:
		log.Warn("grpc: drain timeout, cutting the RPCs left", "after", drainTimeout)
		srv.Stop()
		<-stopped
	}
	return nil
}

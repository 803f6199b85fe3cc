// Command many listens on n loopback sockets through handoff, for the
// benchmark of handing over 1, 100 and 10,000 sockets:
//
//	many -n 100 -addr 127.0.0.1:PORT
//
// The first socket is an HTTP server at -addr (so a test can see which pid
// serves); the others are bound to port 0 and only accepted on. SIGHUP
// upgrades, SIGTERM drains.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/handoff-go/handoff"
	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 1, "how many sockets")
	addr := flag.String("addr", "127.0.0.1:0", "address of the HTTP socket")
	verbose := flag.Bool("v", false, "log to stderr")
	udp := flag.String("udp", "", "also listen on this UDP address (echo server)")
	unixPath := flag.String("unix", "", "also listen on this unix socket path")
	file := flag.String("file", "", "also pass this file on, opened for appending, as \"journal\"")
	probation := flag.Duration("probation", -1, "Options.Probation (default off)")
	flag.Parse()
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
	}
	raiseNoFile(2**n + 100)

	h, err := handoff.New(handoff.Options{Probation: *probation, DrainIdle: 1, Logger: logger})
	if err != nil {
		fail(err)
	}
	defer h.Stop()
	// The HTTP socket first: its port must not be taken by one of ours.
	httpLn, err := h.Listen("tcp", *addr)
	if err != nil {
		fail(err)
	}
	if *udp != "" {
		pc, err := h.ListenPacket("udp", *udp)
		if err != nil {
			fail(err)
		}
		go echo(pc)
		defer pc.Close()
	}
	if *unixPath != "" {
		ul, err := h.Listen("unix", *unixPath)
		if err != nil {
			fail(err)
		}
		defer ul.Close()
	}
	if *file != "" {
		f, err := h.File("journal", func() (*os.File, error) {
			return os.OpenFile(*file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		})
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(f, "generation %d pid %d\n", h.Generation(), os.Getpid())
		defer f.Close()
	}
	lns := make([]net.Listener, 0, *n)
	for i := 1; i < *n; i++ {
		ln, err := h.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		lns = append(lns, ln)
	}
	pid := strconv.Itoa(os.Getpid())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", pid)
		fmt.Fprintln(w, pid)
	})}
	err = h.Serve(context.Background(), srv, httpLn)
	for _, ln := range lns {
		ln.Close()
	}
	if err != nil {
		fail(err)
	}
}

func raiseNoFile(want int) {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < uint64(want) {
		rl.Cur = uint64(want)
		if rl.Max < rl.Cur {
			rl.Max = rl.Cur // allowed for root; otherwise fall back below
		}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &rl) != nil {
			unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
			rl.Cur = rl.Max
			unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
		}
	}
}

// echo answers each datagram with the pid, so a test can tell which
// generation reads the shared UDP socket.
func echo(pc net.PacketConn) {
	buf := make([]byte, 1500)
	pid := []byte(strconv.Itoa(os.Getpid()))
	for {
		_, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(pid, addr)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "many:", err)
	os.Exit(1)
}

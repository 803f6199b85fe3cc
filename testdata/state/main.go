// Command state hands a state blob from generation to generation, for the
// tests and the benchmark of Options.SaveState / Handoff.State:
//
//	state -addr 127.0.0.1:PORT [-size BYTES] [-version V] [-accept V | -accept-from FILE] [-fail-after BYTES] [-v]
//
// Every generation offers its successor -size bytes of a fixed
// pseudo-random stream (ChaCha8 with a fixed seed, generated as it is
// written: the blob is never in memory) as format -version. A new generation
// refuses a blob whose version is not -accept, reads any other to the end,
// and prints its length and SHA-256. -fail-after makes SaveState fail after
// that many bytes. It serves HTTP on -addr (the pid, like hello), and prints
// its peak resident memory (VmHWM) when it exits. SIGHUP upgrades.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-go/handoff"
)

// Seed of the blob's stream: the test computes the same stream's digest.
var Seed = [32]byte{'h', 'a', 'n', 'd', 'o', 'f', 'f'}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "HTTP address")
	size := flag.Int64("size", 1<<20, "bytes of state to hand over")
	version := flag.Uint("version", 1, "format version of the state this generation sends")
	accept := flag.Uint("accept", 0, "the only version this generation accepts (0: same as -version)")
	acceptFrom := flag.String("accept-from", "", "read -accept from this file at start (tests change it between generations)")
	failAfter := flag.Int64("fail-after", -1, "SaveState fails after this many bytes (-1: never)")
	verbose := flag.Bool("v", false, "log to stderr")
	flag.Parse()
	if *acceptFrom != "" {
		b, err := os.ReadFile(*acceptFrom)
		if err != nil {
			fail(err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if err != nil {
			fail(fmt.Errorf("-accept-from %s: %v", *acceptFrom, err))
		}
		*accept = uint(v)
	}
	if *accept == 0 {
		*accept = *version
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
	}
	defer printPeakRSS()

	h, err := handoff.New(handoff.Options{
		Probation:    -1,
		Logger:       logger,
		StateVersion: uint32(*version),
		SaveState: func(w io.Writer) error {
			n := *size
			if *failAfter >= 0 && *failAfter < n {
				if _, err := io.CopyN(w, rand.NewChaCha8(Seed), *failAfter); err != nil {
					return err
				}
				return errors.New("the cache could not be read (-fail-after)")
			}
			_, err := io.CopyN(w, rand.NewChaCha8(Seed), n)
			return err
		},
	})
	if err != nil {
		fail(err)
	}
	defer h.Stop()
	receiveState(h, uint32(*accept))

	ln, err := h.Listen("tcp", *addr)
	if err != nil {
		fail(err)
	}
	pid := strconv.Itoa(os.Getpid())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", pid)
		io.WriteString(w, pid+"\n")
	})}
	if err := h.Serve(context.Background(), srv, ln); err != nil {
		fail(err)
	}
}

// receiveState reads the previous generation's blob, if any, and says
// what arrived.
func receiveState(h *handoff.Handoff, accept uint32) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	st, err := h.State(ctx)
	if errors.Is(err, handoff.ErrNoState) {
		fmt.Fprintf(os.Stderr, "state: none: %v\n", err)
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "state: failed: %v\n", err)
		return
	}
	if st.Version != accept {
		st.Refuse(fmt.Sprintf("version %d, this build reads version %d", st.Version, accept))
		fmt.Fprintf(os.Stderr, "state: refused version=%d\n", st.Version)
		return
	}
	sum := sha256.New()
	n, err := io.Copy(sum, st)
	if err != nil {
		fmt.Fprintf(os.Stderr, "state: failed after %d bytes: %v\n", n, err)
		return
	}
	if err := st.Accept(); err != nil {
		fmt.Fprintf(os.Stderr, "state: accept: %v\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "state: received bytes=%d sha256=%x version=%d took=%s\n", n, sum.Sum(nil), st.Version,
		time.Since(start).Round(time.Millisecond))
}

// printPeakRSS prints VmHWM, the peak resident set size, from /proc.
func printPeakRSS() {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			fmt.Fprintf(os.Stderr, "rss: pid=%d peak=%s\n", os.Getpid(), strings.Join(strings.Fields(v), " "))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "state:", err)
	os.Exit(1)
}

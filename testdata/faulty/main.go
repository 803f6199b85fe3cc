// Command faulty is a new generation that fails on purpose, for the fault
// tests. Its failure is chosen at build time, because a new generation
// inherits the environment of the generation it replaces:
//
//	go build -ldflags "-X main.mode=exit1" ./testdata/faulty
//
// Modes: exit1 (exits before Ready), panic (panics before Ready), hang
// (never calls Ready), probation (calls Ready, then exits 1 after 100 ms),
// late (calls Ready only once the FIFO named by $FAULTY_GATE is opened for
// writing: the test decides when), ok (serves like a healthy generation and
// answers "faulty-ok"). Ready's error, if any, goes to stderr ("faulty:
// ready:" in probation mode, the library's "handoff: ready" line else).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/handoff-go/handoff"
)

var mode = "exit1"

func main() {
	fmt.Fprintln(os.Stderr, "faulty: starting in mode", mode)
	h, err := handoff.New(handoff.Options{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulty:", err)
		os.Exit(1)
	}
	ln, err := h.Listen("tcp", addrArg(os.Args[1:]))
	if err != nil {
		// hello's argv holds "-addr HOST:PORT"; anything else is a test bug.
		fmt.Fprintln(os.Stderr, "faulty:", err)
		os.Exit(1)
	}
	switch mode {
	case "exit1":
		fmt.Fprintln(os.Stderr, "faulty: giving up: configuration is broken")
		os.Exit(1)
	case "panic":
		panic("faulty: boom before ready")
	case "hang":
		select {}
	case "late":
		gate, err := os.Open(os.Getenv("FAULTY_GATE")) // blocks until the test opens the FIFO
		if err != nil {
			fmt.Fprintln(os.Stderr, "faulty:", err)
			os.Exit(1)
		}
		gate.Close()
	}
	pid := strconv.Itoa(os.Getpid())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pid", pid)
		w.Header().Set("X-Request-Id", r.Header.Get("X-Request-Id"))
		fmt.Fprintf(w, "%s\nfaulty-ok\n", pid)
	})}
	if mode == "probation" {
		go srv.Serve(ln)
		if err := h.Ready(); err != nil {
			fmt.Fprintln(os.Stderr, "faulty: ready:", err)
		}
		time.Sleep(100 * time.Millisecond) // the fault being simulated: a crash shortly after start
		fmt.Fprintln(os.Stderr, "faulty: crashing after ready")
		os.Exit(1)
	}
	// Served as a healthy program is (a late one too: a takeover newcomer
	// that steps back has accepted connections by then, and h.Serve drains
	// them with Connection: close, where srv.Shutdown would close idle
	// keep-alive ones under a request being sent). Ready's error is logged
	// by h.Serve ("handoff: ready").
	if err := h.Serve(context.Background(), srv, ln); err != nil {
		fmt.Fprintln(os.Stderr, "faulty:", err)
	}
	h.Stop()
}

// addrArg is the value after the first "-addr" in args (it replaces hello,
// whose other flags it ignores), or the last argument if there is none.
func addrArg(args []string) string {
	for i, a := range args {
		if (a == "-addr" || a == "--addr") && i+1 < len(args) {
			return args[i+1]
		}
	}
	if len(args) == 0 {
		return ""
	}
	return args[len(args)-1]
}

//go:build !windows

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/handoff-go/handoff/internal/supervisor"
)

// The operator's flags of `handoff run`: pre-flight checks, HUP as reload,
// the stop delay, and the metrics/readiness endpoint. run.go calls
// addOpsFlags, apply and serve.
type opsFlags struct {
	check        *string
	checkTimeout *time.Duration
	sha256       *string
	hup          *string
	stopDelay    *time.Duration
	metrics      *string
}

func addOpsFlags(fs *flag.FlagSet) *opsFlags {
	return &opsFlags{
		check:        fs.String("check", "", "shell command that must exit 0 before every start of the program, like nginx -t; $HANDOFF_PROGRAM names the file to be exec'd. A failure refuses the upgrade or reload (exit 10) and the serving generation keeps serving"),
		checkTimeout: fs.Duration("check-timeout", 30*time.Second, "kill --check after this (the upgrade is refused)"),
		sha256:       fs.String("verify-sha256", "", "refuse to start a program whose SHA-256 is not this (hex; exit 9)"),
		hup:          fs.String("hup", "upgrade", "what SIGHUP does: upgrade (look the program up on disk again, as USR2) or reload (start the bytes that serve again, as 'handoff reload'; nginx's meaning)"),
		stopDelay:    fs.Duration("stop-delay", 0, "after the first TERM, INT or QUIT keep serving this long while /ready answers 503 (Kubernetes endpoints are removed asynchronously), then drain; a second signal drains at once"),
		metrics:      fs.String("metrics", "", "serve GET /metrics (Prometheus) and GET /ready (200 serving, 503 starting or stopping) on this TCP address, e.g. :9100"),
	}
}

// apply copies the flags into cfg; an error is a usage error.
func (o *opsFlags) apply(cfg *supervisor.Config) error {
	switch *o.hup {
	case "upgrade":
	case "reload":
		cfg.HUPReloads = true
	default:
		return fmt.Errorf("--hup %q: want upgrade or reload", *o.hup)
	}
	if *o.stopDelay < 0 {
		return fmt.Errorf("--stop-delay %v: must not be negative", *o.stopDelay)
	}
	if s := *o.sha256; s != "" && len(s) != 64 {
		return fmt.Errorf("--verify-sha256: want 64 hex digits, got %d characters", len(s))
	}
	cfg.Check, cfg.CheckTimeout, cfg.VerifySHA256, cfg.StopDelay = *o.check, *o.checkTimeout, *o.sha256, *o.stopDelay
	return nil
}

// serve starts the --metrics endpoint, if any; the returned func stops it.
// A failure to bind is a usage error, like a --listen port in use.
func (o *opsFlags) serve(sup *supervisor.Supervisor, stderr io.Writer) (func(), error) {
	if *o.metrics == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", *o.metrics)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", sup.Metrics())
	mux.Handle("GET /ready", sup.Readiness())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "handoff: --metrics: %v\n", err)
		}
	}()
	fmt.Fprintf(stderr, "handoff: metrics and readiness on http://%s/metrics, /ready\n", ln.Addr())
	return func() { srv.Close() }, nil
}

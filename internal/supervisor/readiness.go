package supervisor

import (
	"fmt"
	"strings"
	"time"
)

// ReadyKind names how readiness is detected.
type ReadyKind string

const (
	// ReadyNotify (the default) waits for READY=1 on NOTIFY_SOCKET from
	// the worker or any of its descendants (systemd's NotifyAccess=all).
	// It is the only mode that knows the program really serves.
	ReadyNotify ReadyKind = "notify"
	// ReadyDelay counts a worker as ready once it has stayed alive for
	// Readiness.Delay. Risk: a program slower than that receives traffic
	// before it accepts; connections are not refused (they wait in the
	// shared accept queue) but they wait, and a program that dies after
	// the delay is only caught by probation.
	ReadyDelay ReadyKind = "delay"
	// ReadyExec runs Readiness.Command (with sh -c) every 100ms until it
	// exits 0. The probe gets HANDOFF_WORKER_PID and HANDOFF_GENERATION so
	// it can check the new process itself (a pid file, a per-process
	// admin port, a log line). Risk: a probe that goes through the shared
	// listening socket proves nothing, since the old generation answers it
	// too.
	ReadyExec ReadyKind = "exec"
)

// A TCP connect probe is deliberately not offered: the supervisor holds
// the listening socket, so the kernel completes every handshake into the
// shared accept queue whether or not the new worker (or any worker) calls
// accept. A connect succeeds from the moment the supervisor binds, and an
// HTTP request through it may be answered by the old generation.

// Readiness is the parsed --ready flag.
type Readiness struct {
	Kind    ReadyKind
	Delay   time.Duration // ReadyDelay
	Command string        // ReadyExec
}

// ParseReadiness parses "notify", "delay:DURATION" or "exec:COMMAND".
func ParseReadiness(s string) (Readiness, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch ReadyKind(kind) {
	case ReadyNotify:
		if arg != "" {
			return Readiness{}, configError("--ready=%s: notify takes no argument", s)
		}
		return Readiness{Kind: ReadyNotify}, nil
	case ReadyDelay:
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return Readiness{}, configError("--ready=%s: want delay:DURATION, e.g. delay:2s", s)
		}
		return Readiness{Kind: ReadyDelay, Delay: d}, nil
	case ReadyExec:
		if strings.TrimSpace(arg) == "" {
			return Readiness{}, configError("--ready=%s: want exec:COMMAND", s)
		}
		return Readiness{Kind: ReadyExec, Command: arg}, nil
	case "tcp", "http":
		return Readiness{}, configError("--ready=%s: not offered: the supervisor holds the listening socket, so a connect to it succeeds (and the old generation may answer) whether or not the new worker serves; use notify, delay:D or exec:CMD", s)
	}
	return Readiness{}, configError("--ready=%s: want notify, delay:DURATION or exec:COMMAND", s)
}

// String renders r in flag form.
func (r Readiness) String() string {
	switch r.Kind {
	case ReadyDelay:
		return fmt.Sprintf("delay:%v", r.Delay)
	case ReadyExec:
		return "exec:" + r.Command
	}
	return string(ReadyNotify)
}

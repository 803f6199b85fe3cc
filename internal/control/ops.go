package control

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Reloader is implemented by a Handler that can start a new generation of
// the exact program that serves (POST /reload), as opposed to Upgrade,
// which looks the program up on disk again. A Handler without it answers
// 404 there.
type Reloader interface {
	// Reload starts a reload and returns its events, like Upgrade.
	Reload(ctx context.Context) <-chan Event
}

// MetricsHandler is implemented by a Handler that exports metrics. GET
// /metrics is answered by the handler it returns (Prometheus text format);
// a Handler without it answers 404 there.
type MetricsHandler interface {
	Metrics() http.Handler
}

func handleOps(mux *http.ServeMux, h Handler, writeTimeout time.Duration) {
	if rl, ok := h.(Reloader); ok {
		mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
			streamEvents(w, rl.Reload(r.Context()), writeTimeout)
		})
	}
	if m, ok := h.(MetricsHandler); ok {
		if mh := m.Metrics(); mh != nil {
			mux.Handle("GET /metrics", mh)
		}
	}
}

// Reload asks for a reload (a new generation of the bytes that serve now)
// and follows it as Upgrade does.
func (c *Client) Reload(ctx context.Context, each func(Event)) (Event, error) {
	return c.stream(ctx, "/reload", each)
}

// Metrics fetches the supervisor's metrics in the Prometheus text format.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("control: metrics: %w", err)
	}
	return string(b), nil
}

// Refusal reasons carried in Event.Reason when an upgrade or reload is
// refused by its pre-flight checks (StageRefused). Each has its own exit
// status of `handoff upgrade` and `handoff reload`.
const (
	ReasonMissing       = "missing"        // the program does not exist
	ReasonNotRegular    = "not_regular"    // not a regular file
	ReasonNotExecutable = "not_executable" // no execute permission
	ReasonWrongArch     = "wrong_arch"     // not a binary for this machine, nor a #! script
	ReasonChecksum      = "checksum"       // SHA-256 differs from --verify-sha256
	ReasonCheckFailed   = "check_failed"   // the --check command failed
	ReasonChanged       = "changed"        // reload: the bytes that serve cannot be started again
)

// Exit statuses for refusals, after the codes 0 to 4 above.
const (
	ExitMissing       = 5
	ExitNotRegular    = 6
	ExitNotExecutable = 7
	ExitWrongArch     = 8
	ExitChecksum      = 9
	ExitCheckFailed   = 10
	ExitChanged       = 11
)

var reasonExit = map[string]int{
	ReasonMissing:       ExitMissing,
	ReasonNotRegular:    ExitNotRegular,
	ReasonNotExecutable: ExitNotExecutable,
	ReasonWrongArch:     ExitWrongArch,
	ReasonChecksum:      ExitChecksum,
	ReasonCheckFailed:   ExitCheckFailed,
	ReasonChanged:       ExitChanged,
}

// ExitCodeOf maps the final event of an upgrade or reload to the exit
// status of `handoff upgrade`/`reload`: ExitCode of its stage, or for a
// pre-flight refusal the status of its Reason.
func ExitCodeOf(final Event) int {
	if code, ok := reasonExit[final.Reason]; ok && final.Stage == StageRefused {
		return code
	}
	return ExitCode(final.Stage)
}

package control

import (
	"context"
	"net/http"
	"time"
)

// SelfUpgrader is implemented by a Handler that can re-execute itself from
// its binary on disk in place (POST /upgrade-self, `handoff upgrade
// --self`). A Handler without it answers 404 there.
//
// The stream ends in one of two ways. When the supervisor refuses (a
// pre-flight check failed, an upgrade runs, the system cannot do it) or its
// execve failed, a final event says so (StageRefused with a Reason, or
// StageFailed) and the old supervisor serves on. When the execve
// succeeded, the stream breaks without a final event (the connection dies
// with the old binary): the client then asks GET /status of the new one,
// whose Supervisor.ReExecs has grown by one.
type SelfUpgrader interface {
	UpgradeSelf(ctx context.Context) <-chan Event
}

// ReasonStateVersion refuses a self-upgrade whose new binary does not run,
// or speaks another supervisor state version than the running one.
const ReasonStateVersion = "state_version"

// ExitStateVersion is the exit status of `handoff upgrade --self` for
// ReasonStateVersion.
const ExitStateVersion = 12

func init() { reasonExit[ReasonStateVersion] = ExitStateVersion }

// SupervisorInfo describes the supervisor process itself, in Status.
type SupervisorInfo struct {
	// Version is the handoff build that runs (set at build time; "dev"
	// otherwise), Executable the file it was started from.
	Version    string `json:"version"`
	Executable string `json:"executable,omitempty"`
	// ReExecs counts the self-upgrades of this pid; ReExecAt is the time of
	// the last one.
	ReExecs  int       `json:"reexecs,omitempty"`
	ReExecAt time.Time `json:"reexec_at,omitzero"`
}

func handleSelf(mux *http.ServeMux, h Handler, writeTimeout time.Duration) {
	if su, ok := h.(SelfUpgrader); ok {
		mux.HandleFunc("POST /upgrade-self", func(w http.ResponseWriter, r *http.Request) {
			streamEvents(w, su.UpgradeSelf(r.Context()), writeTimeout)
		})
	}
}

// UpgradeSelf asks the supervisor to re-execute itself and follows the
// stream as Upgrade does. An error after a successful execve is expected:
// see SelfUpgrader.
func (c *Client) UpgradeSelf(ctx context.Context, each func(Event)) (Event, error) {
	return c.stream(ctx, "/upgrade-self", each)
}

package handoff

import "errors"

// Takeover (Options.Takeover, docs/TAKEOVER.md): a process that nobody in
// the chain started takes over from the one that serves, over a unix
// socket at a path both were given, as HAProxy's -x, Envoy's hot restart
// and tableroll do. The serving side is takeover_serve.go, the newcomer's
// takeover_join.go, the newcomer as the cutover sees it takeover_peer.go;
// the socket path's checks, lock and atomic replacement are
// internal/takeover's, with the hooks into the upgrade code in
// takeover_listen.go.

var (
	// ErrTakeoverBusy is New's error when another process holds the
	// takeover lock: it is taking over (or starting first) right now. The
	// serving process was not contacted. Exit and try again later.
	ErrTakeoverBusy = errors.New("handoff: takeover: another process is taking over")

	// ErrTakeover is a takeover that could not happen: the socket path
	// failed its checks (New), the serving process refused or went away
	// before this one was ready (New or Ready), or, on the serving side, a
	// newcomer failed (wrapped in ErrUpgradeFailed, with the reason). The
	// serving process keeps serving in every case.
	ErrTakeover = errors.New("handoff: takeover failed")
)

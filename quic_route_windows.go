//go:build windows

package handoff

import (
	"net"

	"github.com/handoff-go/handoff/internal/quicroute"
)

// quicRoute is never made on Windows: ListenQUIC serves plain quic-go
// there (no unix datagram links, no handover channel).
type quicRoute struct{ conn *quicroute.Conn }

type quicRoutes struct{}

func (h *Handoff) routeQUIC(*net.UDPConn, bool) (*quicRoute, error) { return nil, nil }
func (h *Handoff) inheritedClaims() int                             { return 0 }
func (r *quicRoute) watch()                                         {}
func (r *quicRoute) release()                                       {}
func (r *quicRoute) awaitHandOver() bool                            { return false }

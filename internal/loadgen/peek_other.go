//go:build !unix

package loadgen

import "net"

// peeker is a stub where a non-blocking peek is not implemented: every idle
// connection is assumed open, so an idle close is only seen when the next
// request fails (stricter, never more lenient).
type peeker struct{}

func (p *peeker) init(net.Conn) {}

func (p *peeker) closed() bool { return false }

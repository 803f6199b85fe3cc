//go:build !unix

package launch

import (
	"strconv"
	"time"
)

// start anchors MonotonicUsec off unix: Go's own monotonic reading, which
// only differences expose.
var start = time.Now()

// MonotonicUsec is a monotonic clock in microseconds, in decimal. There is
// no systemd off unix to compare it with CLOCK_MONOTONIC, so it counts from
// the start of this process.
func MonotonicUsec() string {
	return strconv.FormatInt(time.Since(start).Microseconds(), 10)
}

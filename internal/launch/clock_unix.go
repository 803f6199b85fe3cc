//go:build unix

package launch

import (
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// MonotonicUsec is CLOCK_MONOTONIC in microseconds, in decimal: the
// MONOTONIC_USEC= that systemd requires with RELOADING=1 (Type=notify-reload
// refuses a reload notification without it). Should the clock fail, the
// wall clock stands in: a wrong value is better than none.
func MonotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return strconv.FormatInt(time.Now().UnixMicro(), 10)
	}
	return strconv.FormatInt(ts.Nano()/1000, 10)
}

package launch

import (
	"strconv"

	"github.com/handoff-go/handoff/internal/proto"
	"github.com/handoff-go/handoff/internal/sdnotify"
)

// CheckReady reports whether m declares its sender ready (READY=1), and,
// when it does, whether the sender can be trusted to understand this
// build: a proto.ReadyField naming a version this build does not speak is
// an error wrapping proto.ErrVersion. A READY=1 without that field comes
// from a program that does not use the handoff library (anything that
// speaks sd_notify), and is accepted.
func CheckReady(m sdnotify.Message) (ready bool, err error) {
	if v, ok := m.Get("READY"); !ok || v != "1" {
		return false, nil
	}
	if version, ok := m.Get(proto.ReadyField); ok {
		if err := proto.Check(version); err != nil {
			return false, err
		}
	}
	return true, nil
}

// MainPID is the sd_notify assignment naming pid as the service's main
// process: "MAINPID=<pid>".
func MainPID(pid int) string { return "MAINPID=" + strconv.Itoa(pid) }

// ParseMainPID returns the pid m names in MAINPID=, and false when it names
// none, or nothing that can be a pid.
func ParseMainPID(m sdnotify.Message) (int, bool) {
	v, ok := m.Get("MAINPID")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(v)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// Reloading is what a parent tells its service manager when an upgrade
// starts: RELOADING=1 with the MONOTONIC_USEC= systemd requires alongside
// it, and STATUS=status. systemd's Type=notify-reload then waits for the
// next READY=1.
func Reloading(status string) []string {
	return []string{"RELOADING=1", "MONOTONIC_USEC=" + MonotonicUsec(), "STATUS=" + status}
}

//go:build !windows

package testserver

import (
	"syscall"
	"testing"
	"time"
)

// Hangup sends SIGHUP to pid (an upgrade, for hello and the supervisor),
// failing the test if it cannot be sent.
func Hangup(t testing.TB, pid int) { signal(t, pid, syscall.SIGHUP) }

// Terminate sends SIGTERM to pid (drain and exit), failing the test if it
// cannot be sent.
func Terminate(t testing.TB, pid int) { signal(t, pid, syscall.SIGTERM) }

func signal(t testing.TB, pid int, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("%v to pid %d: %v", sig, pid, err)
	}
}

// Upgrade sends SIGHUP to the generation pid, waits (at most d each) for
// the next generation to announce itself and for pid to exit, and returns
// the new generation's pid.
func (p *Proc) Upgrade(t testing.TB, pid int, d time.Duration) int {
	t.Helper()
	Hangup(t, pid)
	next := p.NextPID(t, d)
	p.WaitGone(t, pid, d)
	return next
}

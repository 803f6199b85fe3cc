//go:build !windows

package testserver

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/handoff-go/handoff/internal/sdnotify"
)

// ListenNotify opens a NOTIFY_SOCKET at path, as systemd does for a
// Type=notify service, and delivers every well-formed datagram on the
// channel returned (buffered; closed once the socket is). The socket is
// closed at t's cleanup.
func ListenNotify(t testing.TB, path string) (socket string, events <-chan sdnotify.Message) {
	t.Helper()
	recv, err := sdnotify.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sdnotify.Message, 1024)
	go func() {
		defer close(ch)
		for {
			d, err := recv.Receive()
			if err != nil {
				return
			}
			if d.Err == nil {
				ch <- d.Msg
			}
		}
	}()
	t.Cleanup(func() { recv.Close() })
	return recv.Path(), ch
}

// errNotifyClosed is NextNotify's error when events closes first.
var errNotifyClosed = errors.New("notify socket closed")

// NextNotify returns the first message on events that ok accepts, adding
// the MAINPID of every message it reads to pids (so that cleanup kills
// every generation seen). It fails, with an error that says why, when
// events closes or ctx is done first.
func NextNotify(ctx context.Context, events <-chan sdnotify.Message, pids *PIDs, ok func(sdnotify.Message) bool) (sdnotify.Message, error) {
	for {
		select {
		case m, open := <-events:
			if !open {
				return sdnotify.Message{}, errNotifyClosed
			}
			if pid, err := strconv.Atoi(get(m, "MAINPID")); err == nil {
				pids.Add(pid)
			}
			if ok(m) {
				return m, nil
			}
		case <-ctx.Done():
			return sdnotify.Message{}, ctx.Err()
		}
	}
}

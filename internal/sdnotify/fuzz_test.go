//go:build linux

package sdnotify

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzReceive sends arbitrary datagrams, some with real descriptors
// attached, to a real Receiver. Whatever the bytes: Receive returns (no
// error of its own, the socket stays usable), reports exactly the number of
// fds sent and has closed them all (the process's open descriptors come
// back to where they were), says who sent the datagram, and its verdict on
// the payload is Parse's.
func FuzzReceive(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s), uint8(0))
	}
	f.Add([]byte("BARRIER=1"), uint8(1))
	f.Add([]byte("FDSTORE=1\nFDNAME=listener"), uint8(3))
	f.Add(make([]byte, MaxSize+1), uint8(2))
	f.Add([]byte{}, uint8(5))

	dir := f.TempDir()
	r, err := Listen(filepath.Join(dir, "n.sock"))
	if err != nil {
		f.Fatal(err)
	}
	defer r.Close()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: r.Path(), Net: "unixgram"})
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		f.Fatal(err)
	}
	defer null.Close()

	f.Fuzz(func(t *testing.T, b []byte, nfds uint8) {
		if len(b) > 2*MaxSize {
			return // all that matters about size is past MaxSize
		}
		n := int(nfds % 8)
		before := countFDs(t)
		fds := make([]int, n)
		for i := range fds {
			fd, err := unix.Dup(int(null.Fd()))
			if err != nil {
				t.Fatal(err)
			}
			fds[i] = fd
		}
		var oob []byte
		if n > 0 {
			oob = unix.UnixRights(fds...)
		}
		_, _, werr := conn.WriteMsgUnix(b, oob, nil)
		for _, fd := range fds {
			unix.Close(fd)
		}
		if werr != nil {
			return // the kernel refused it (EMSGSIZE): nothing was sent
		}
		got := make(chan struct {
			d   Datagram
			err error
		}, 1)
		go func() {
			d, err := r.Receive()
			got <- struct {
				d   Datagram
				err error
			}{d, err}
		}()
		var d Datagram
		select {
		case res := <-got:
			if res.err != nil {
				t.Fatalf("Receive: %v", res.err)
			}
			d = res.d
		case <-time.After(waitTimeout):
			t.Fatal("Receive: nothing within the wait timeout")
		}
		if d.FDs != n {
			t.Fatalf("Receive counted %d fds, %d were sent", d.FDs, n)
		}
		if after := countFDs(t); after != before {
			t.Fatalf("descriptor leak: %d open before, %d after Receive", before, after)
		}
		if d.PID != os.Getpid() || d.UID != os.Getuid() {
			t.Fatalf("sender pid %d uid %d, want %d %d", d.PID, d.UID, os.Getpid(), os.Getuid())
		}
		if len(b) > MaxSize {
			if !errors.Is(d.Err, ErrMalformed) {
				t.Fatalf("%d-byte datagram: err %v, want ErrMalformed", len(b), d.Err)
			}
			return
		}
		m, perr := Parse(b)
		if (perr == nil) != (d.Err == nil) || !slices.Equal(m.Fields, d.Msg.Fields) {
			t.Fatalf("Receive of %q = %+v, %v; Parse = %+v, %v", b, d.Msg, d.Err, m, perr)
		}
	})
}

func countFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

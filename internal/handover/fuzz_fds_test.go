//go:build linux

package handover

import (
	"errors"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzReadFrameWithFDs feeds arbitrary bytes over a real socket pair, with
// real descriptors riding on some of the writes, to a frame reader that
// takes conns descriptors (the receiver after its handshake) or takes none
// (the handshake, the sender's reader). Whatever the bytes, every
// descriptor that arrived is either handed to the caller with a conns frame
// or closed: the process ends each input with as many open descriptors as
// it began with (issue 12, finding 5).
func FuzzReadFrameWithFDs(f *testing.F) {
	for _, fr := range validFrames() {
		f.Add(fr, uint8(3), uint16(1), uint8(1), true)
	}
	conns := appendFrame(nil, 1, frameConns, 0, appendConnsPayload(nil, 1, make([]Conn, 3)))
	f.Add(conns, uint8(255), uint16(1), uint8(3), true)  // a good conns frame
	f.Add(conns, uint8(255), uint16(1), uint8(3), false) // a conns frame where none is due
	f.Add(conns[:len(conns)-2], uint8(4), uint16(0xffff), uint8(2), true)
	f.Add(append(append([]byte(nil), validFrames()[0]...), conns...), uint8(7), uint16(0x5555), uint8(2), false)

	null, err := os.Open(os.DevNull)
	if err != nil {
		f.Fatal(err)
	}
	defer null.Close()
	f.Fuzz(func(t *testing.T, data []byte, step uint8, fdMask uint16, perWrite uint8, takes bool) {
		if len(data) > 16<<10 {
			return // frames this big add nothing the small ones miss
		}
		before := openFDs(t)
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		w, r := sp[0], sp[1]
		// Write data in pieces of step+1 bytes; piece i carries perWrite%4
		// descriptors (dups of /dev/null) when bit i%16 of fdMask is set.
		size := int(step) + 1
		n := int(perWrite % 4)
		fds := make([]int, n)
		for i := range fds {
			if fds[i], err = unix.Dup(int(null.Fd())); err != nil {
				t.Fatal(err)
			}
		}
		// The writer runs beside the reader: many small writes with
		// descriptors fill the socket's buffer long before 64 KiB.
		wrote := make(chan error, 1)
		go func() {
			var err error
			for i, off := 0, 0; off < len(data) && err == nil; i, off = i+1, off+size {
				piece := data[off:min(off+size, len(data))]
				var oob []byte
				if n > 0 && fdMask&(1<<(i%16)) != 0 {
					oob = unix.UnixRights(fds...)
				}
				err = unix.Sendmsg(w, piece, oob, nil, 0)
			}
			unix.Close(w) // the reader sees EOF after the last byte
			if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
				err = nil // the reader stopped at an error and closed
			}
			wrote <- err
		}()

		fr := newFrameReader(func(b, oob []byte) (int, int, int, error) {
			n, oobn, flags, _, err := unix.Recvmsg(r, b, oob, 0)
			if err == nil && n == 0 && len(b) > 0 {
				err = io.EOF
			}
			return n, oobn, flags, err
		})
		fr.takesFDs = takes
		for range 64 {
			h, _, err := fr.readFrame()
			if err != nil {
				if len(fr.fds) != 0 {
					t.Fatalf("error %v left descriptors %v", err, fr.fds)
				}
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected kind of error: %v", err)
				}
				break
			}
			if h.typ != frameConns || !takes {
				if len(fr.fds) != 0 {
					t.Fatalf("%s frame (reader takes fds: %v) left descriptors %v", h.typ, takes, fr.fds)
				}
				continue
			}
			closeAll(fr.takeFDs()) // what the receiver does with them, in short
		}
		fr.closeFDs()
		unix.Close(r) // descriptors still in flight die with the socket
		if err := <-wrote; err != nil {
			t.Fatalf("sendmsg: %v", err)
		}
		closeAll(fds)
		if after := openFDs(t); len(after) != len(before) {
			t.Fatalf("descriptor leak: %d open before, %d after\nbefore: %v\nafter:  %v", len(before), len(after), before, after)
		}
	})
}

//go:build unix

package handover

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"testing"
)

// The ready frame of a takeover may cross a state transfer: the sender's
// reading loop takes it aside, the transfer completes, and Ready is closed.
func TestReady_DuringAStateTransfer_TakenAsideTransferCompletes(t *testing.T) {
	checkFDs(t)
	s, r := pair(t)
	ctx := testCtx(t)
	blob := bytes.Repeat([]byte("state"), 200_000) // several chunks
	sent := make(chan error, 1)
	go func() { sent <- s.SendState(ctx, 1, bytes.NewReader(blob)) }()
	it, err := r.Next(ctx)
	if err != nil || it.State == nil {
		t.Fatalf("Next: %+v, %v", it, err)
	}
	if err := r.Ready(ctx); err != nil {
		t.Fatalf("Ready in the middle of the blob: %v", err)
	}
	got, err := io.ReadAll(it.State)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("blob: %d bytes (want %d), %v", len(got), len(blob), err)
	}
	if err := it.State.Accept(); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("SendState after a ready frame crossed it: %v", err)
	}
	select {
	case <-s.Ready():
	case <-ctx.Done():
		t.Fatal("the sender never saw the ready frame")
	}
	finished := make(chan error, 1)
	go func() { finished <- s.Finish(ctx) }()
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("Next after done: %v, want io.EOF", err)
	}
	if err := <-finished; err != nil {
		t.Fatalf("Finish: %v", err)
	}
}

// Gone is closed when the receiver's end closes (a newcomer that died),
// and KernelPID is the kernel's word on the receiver's pid.
func TestGone_ReceiverClosed_KernelPIDIsThePeers(t *testing.T) {
	s, r := pair(t)
	if runtime.GOOS != "freebsd" && s.KernelPID() != os.Getpid() {
		t.Fatalf("KernelPID %d, want %d", s.KernelPID(), os.Getpid())
	}
	select {
	case <-s.Gone():
		t.Fatal("Gone before the receiver closed")
	default:
	}
	r.Close()
	select {
	case <-s.Gone():
	case <-testCtx(t).Done():
		t.Fatal("Gone not closed after the receiver closed")
	}
	if s.Alive() {
		t.Fatal("Alive after Gone")
	}
}

// A receiver whose sender has gone learns it from Ready: nobody will
// read the frame (the newcomer then steps back or serves alone).
func TestReady_SenderGone_ErrAborted(t *testing.T) {
	s, r := pair(t)
	s.Abort("the serving process gave up")
	// The abort frame and the close reach the receiver's socket; the
	// write of the ready frame then finds the peer gone. One write may
	// still succeed into the socket buffer before the kernel reports
	// the reset, so try twice.
	err := r.Ready(testCtx(t))
	if err == nil {
		err = r.Ready(testCtx(t))
	}
	wantErr(t, err, ErrAborted, "the sender has gone")
}

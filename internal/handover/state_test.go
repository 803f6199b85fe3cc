//go:build unix

package handover

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSendState_256MiBArrivesIntactInBoundedMemory(t *testing.T) {
	checkFDs(t)
	const size = 256 << 20
	const heapBound = 64 << 20
	s, r := pair(t)
	// 256 MiB through the race detector on a loaded machine can outlast
	// testTimeout; this bound is for the stream to finish at all, its
	// memory is what the test asserts.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline, peak := ms.HeapInuse, ms.HeapInuse

	src := newGen(size)
	sent := make(chan error, 1)
	go func() { sent <- s.SendState(ctx, 7, src) }()

	it, err := r.Next(ctx)
	if err != nil || it.State == nil {
		t.Fatalf("Next: %+v, %v", it, err)
	}
	if it.State.Version != 7 {
		t.Fatalf("version %d, want 7", it.State.Version)
	}
	sum := sha256.New()
	buf := make([]byte, 64<<10)
	var got, nextCheck int64
	for {
		n, err := it.State.Read(buf)
		sum.Write(buf[:n])
		got += int64(n)
		if got >= nextCheck {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			nextCheck += 16 << 20
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
	}
	if err := it.State.Accept(); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("SendState: %v", err)
	}
	if got != size {
		t.Fatalf("received %d bytes, want %d", got, size)
	}
	if want := src.sum.Sum(nil); string(sum.Sum(nil)) != string(want) {
		t.Fatalf("sha256 %x, the source produced %x", sum.Sum(nil), want)
	}
	t.Logf("heap in use: %d MiB before, %d MiB at most during the transfer", baseline>>20, peak>>20)
	if peak-baseline > heapBound {
		t.Fatalf("heap grew by %d MiB during a %d MiB transfer (bound %d MiB)", (peak-baseline)>>20, size>>20, heapBound>>20)
	}
	finished := make(chan error, 1)
	go func() { finished <- s.Finish(ctx) }()
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("Next after the state: %v, want io.EOF", err)
	}
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
}

// A receiver that does not know the blob's version refuses it at once;
// the sender stops streaming and says why, and the channel stays usable.
func TestSendState_RefusedEarly_SenderStopsAndReportsTheReason(t *testing.T) {
	checkFDs(t)
	s, r := pair(t)
	ctx := testCtx(t)
	src := newGen(1 << 30)
	first, second := make(chan error, 1), make(chan error, 1)
	go func() {
		first <- s.SendState(ctx, 99, src)
		second <- s.SendState(ctx, 1, strings.NewReader("small"))
	}()
	it, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := it.State.Refuse("unknown state version 99"); err != nil {
		t.Fatal(err)
	}
	if _, err := it.State.Read(make([]byte, 1)); !errors.Is(err, ErrRefused) {
		t.Fatalf("read after refusing: %v", err)
	}
	it, err = r.Next(ctx)
	if err != nil || it.State == nil || it.State.Version != 1 {
		t.Fatalf("second state: %+v, %v", it, err)
	}
	b, err := io.ReadAll(it.State)
	if err != nil || string(b) != "small" {
		t.Fatalf("second state: %q, %v", b, err)
	}
	it.State.Accept()
	wantErr(t, <-first, ErrRefused, `"unknown state version 99"`)
	if err := <-second; err != nil {
		t.Fatalf("the state after the refused one: %v", err)
	}
	if src.read > 64<<20 {
		t.Fatalf("the sender read %d MiB of a refused blob", src.read>>20)
	}
	t.Logf("refused after the sender read %d KiB of 1 GiB", src.read>>10)
}

func TestSendState_RefusedAfterReading(t *testing.T) {
	checkFDs(t)
	s, r := pair(t)
	ctx := testCtx(t)
	sent := make(chan error, 1)
	go func() { sent <- s.SendState(ctx, 1, strings.NewReader("not json")) }()
	it, _ := r.Next(ctx)
	if _, err := io.ReadAll(it.State); err != nil {
		t.Fatal(err)
	}
	it.State.Refuse("cannot decode")
	wantErr(t, <-sent, ErrRefused, "cannot decode")
	if err := it.State.Accept(); err == nil {
		t.Fatal("accepted a refused state")
	}
}

// Next refuses a state the caller neither accepted nor refused.
func TestNext_RefusesAStateLeftUnanswered(t *testing.T) {
	checkFDs(t)
	s, r := pair(t)
	ctx := testCtx(t)
	sent := make(chan error, 1)
	go func() {
		err := s.SendState(ctx, 1, newGen(10<<20))
		sent <- errors.Join(err, s.Finish(ctx))
	}()
	it, _ := r.Next(ctx)
	it.State.Read(make([]byte, 100))
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatalf("Next: %v, want io.EOF", err)
	}
	wantErr(t, <-sent, ErrRefused, "without accepting")
}

func TestSendState_SourceFails_ReceiverSeesCancellation(t *testing.T) {
	checkFDs(t)
	s, r := pair(t)
	ctx := testCtx(t)
	boom := errors.New("disk on fire")
	sent := make(chan error, 1)
	go func() { sent <- s.SendState(ctx, 1, &failingReader{n: 600 << 10, err: boom}) }()
	it, _ := r.Next(ctx)
	_, err := io.Copy(io.Discard, it.State)
	wantErr(t, err, ErrStateCancelled, "")
	if err := <-sent; !errors.Is(err, boom) {
		t.Fatalf("SendState: %v, want the source's error", err)
	}
	// Both sides go on.
	go func() { sent <- s.Finish(ctx) }()
	if _, err := r.Next(ctx); err != io.EOF {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

func TestState_CorruptBlobDetected_SenderTold(t *testing.T) {
	checkFDs(t)
	ctx := testCtx(t)
	r, p := dialRaw(t, ctx)
	p.write(frameStateBegin, 0, encodeU32Pair(1, 1))
	p.write(frameStateChunk, 0, []byte("hello"))
	p.write(frameStateEnd, 0, stateEnd{id: 1, length: 5, sum: sha256.Sum256([]byte("hellp"))}.encode())
	it, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(it.State)
	wantErr(t, err, ErrChecksum, "received 5 bytes with sha256")
	h, msg := p.read()
	res, _ := decodeStateResult(msg)
	if h.typ != frameStateResult || res.status != stateCorrupt {
		t.Fatalf("sender got %s %+v, want a corrupt verdict", h.typ, res)
	}
}

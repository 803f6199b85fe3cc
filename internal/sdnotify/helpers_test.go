//go:build unix

package sdnotify

import (
	"path/filepath"
	"testing"
	"time"
)

// waitTimeout bounds every blocking wait in the tests.
const waitTimeout = 5 * time.Second

func listen(t *testing.T) *Receiver {
	t.Helper()
	// A short name keeps the path under sun_path's 108 bytes even for long
	// test names in TempDir.
	r, err := Listen(filepath.Join(t.TempDir(), "n.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

type result struct {
	d   Datagram
	err error
}

// receive returns the next datagram, failing the test if none arrives in
// time. The helper goroutine ends when the test's Cleanup closes r.
func receive(t *testing.T, r *Receiver) Datagram {
	t.Helper()
	ch := make(chan result, 1)
	go func() {
		d, err := r.Receive()
		ch <- result{d, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("Receive: %v", res.err)
		}
		return res.d
	case <-time.After(waitTimeout):
		t.Fatal("Receive: timed out")
		return Datagram{}
	}
}

// serve runs a receive loop, delivering datagrams on the returned channel,
// until r is closed.
func serve(t *testing.T, r *Receiver) <-chan Datagram {
	ch := make(chan Datagram, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			d, err := r.Receive()
			if err != nil {
				return
			}
			ch <- d
		}
	}()
	t.Cleanup(func() {
		r.Close()
		<-done
	})
	return ch
}

func next(t *testing.T, ch <-chan Datagram) Datagram {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(waitTimeout):
		t.Fatal("no datagram in time")
		return Datagram{}
	}
}

// waitErr returns what a blocked call sends on errc, failing the test
// with what if nothing comes in time.
func waitErr(t *testing.T, errc <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(waitTimeout):
		t.Fatal(what)
		return nil
	}
}

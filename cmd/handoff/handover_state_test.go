//go:build linux

package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Under the supervisor, the state blob goes from the old worker to the
// worker that replaces it (the supervisor only introduces them), intact:
// 64 MiB, SHA-256 checked against the test's own digest of the stream,
// through 3 upgrades.
func TestRun_StateBlobReachesEachNewWorker(t *testing.T) {
	const size = 64 << 20
	sum := sha256.New()
	io.CopyN(sum, rand.NewChaCha8([32]byte{'h', 'a', 'n', 'd', 'o', 'f', 'f'}), size) // testdata/state's stream
	want := fmt.Sprintf("state: received bytes=%d sha256=%x version=1", size, sum.Sum(nil))

	s := startSup(t, fastFlags, bin.state, "-addr", "ADDR", "-size", itoa(size))
	for i := 1; i <= 3; i++ {
		if out, code := s.upgrade(t); code != 0 {
			t.Fatalf("upgrade %d: exit %d: %s", i, code, out)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.stderr.String(), want) < i {
			if time.Now().After(deadline) {
				t.Fatalf("upgrade %d: no %q in the output within 10s", i, want)
			}
			time.Sleep(10 * time.Millisecond) // polling the output, under a deadline
		}
	}
	if strings.Contains(s.stderr.String(), "state: failed") || strings.Contains(s.stderr.String(), "state: refused") {
		t.Fatalf("a state transfer failed:\n%s", s.stderr.String())
	}
}

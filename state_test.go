//go:build linux

package handoff_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/handoff-go/handoff/internal/testserver"
)

// The seed of testdata/state's blob.
var stateSeed = [32]byte{'h', 'a', 'n', 'd', 'o', 'f', 'f'}

func stateDigest(t *testing.T, size int64) string {
	sum := sha256.New()
	if _, err := io.CopyN(sum, rand.NewChaCha8(stateSeed), size); err != nil {
		t.Error(err)
	}
	return fmt.Sprintf("%x", sum.Sum(nil))
}

// The bar: a 256 MiB blob reaches the new generation intact
// (SHA-256 checked end to end), streamed: neither side's peak resident
// memory grows by anything near the blob's size.
func TestState_256MiBReachesTheNewGenerationIntact(t *testing.T) {
	const size = 256 << 20
	digest := make(chan string, 1)
	go func() { digest <- stateDigest(t, size) }()
	s := startServer(t, "state", "-size", strconv.Itoa(size), "-v")
	old := s.cmd.Process.Pid
	start := time.Now()
	next, _ := s.upgrade(old)
	took := time.Since(start)
	if next == old {
		t.Fatalf("no new generation")
	}
	want := <-digest
	s.waitLog(fmt.Sprintf("state: received bytes=%d sha256=%s version=1", size, want), 10*time.Second)
	s.waitLog(fmt.Sprintf("rss: pid=%d peak=", old), 30*time.Second)
	for _, pid := range []int{old, next} {
		if pid == next {
			// Its peak so far: stop it to make it print.
			stopAndWait(t, s, next)
		}
		m := regexp.MustCompile(fmt.Sprintf(`rss: pid=%d peak=(\d+) kB`, pid)).FindStringSubmatch(s.stderr.String())
		if m == nil {
			t.Fatalf("no peak RSS line for pid %d", pid)
		}
		kb, _ := strconv.Atoi(m[1])
		t.Logf("pid %d peak RSS %.1f MiB", pid, float64(kb)/1024)
		if kb > 64<<10 {
			t.Errorf("pid %d peaked at %d kB handing over %d MiB: the blob is not streamed", pid, kb, size>>20)
		}
	}
	t.Logf("upgrade with a %d MiB state: %v from SIGHUP to the new generation's READY=1", size>>20, took.Round(time.Millisecond))
}

// A new generation that does not know the blob's format refuses it; the
// old one is told why, and the upgrade goes on without the state.
func TestState_RefusedByTheNewGeneration_UpgradeGoesOn(t *testing.T) {
	accept := filepath.Join(t.TempDir(), "accept")
	if err := os.WriteFile(accept, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "state", "-size", strconv.Itoa(64<<20), "-accept-from", accept, "-v")
	old := s.cmd.Process.Pid
	// The next build reads version 2 only.
	if err := os.WriteFile(accept, []byte("2"), 0o600); err != nil {
		t.Fatal(err)
	}
	next, status := s.upgrade(old)
	if next == old {
		t.Fatalf("no new generation: %s", status)
	}
	s.waitLog("state: refused version=1", 10*time.Second)
	s.waitLog(`handoff: state: not handed over`, 10*time.Second)
	s.waitLog(`version 1, this build reads version 2`, 10*time.Second)
	if got := servedBy(t, s.addr); got != next {
		t.Fatalf("served by pid %d, want the new generation %d", got, next)
	}
}

// A SaveState that fails part-way cancels the blob: the new generation
// sees the failure (never a truncated blob taken for whole) and serves.
func TestState_SaveStateFails_NewGenerationServesWithout(t *testing.T) {
	s := startServer(t, "state", "-size", strconv.Itoa(8<<20), "-fail-after", "300000", "-v")
	next := s.mustUpgrade(s.cmd.Process.Pid)
	s.waitLog("state: failed after 300000 bytes", 10*time.Second)
	s.waitLog("the cache could not be read (-fail-after)", 10*time.Second)
	wantServedBy(t, s.addr, next)
}

// A first start has no state: State says so at once.
func TestState_FirstStartHasNone(t *testing.T) {
	s := startServer(t, "state", "-v")
	s.waitLog("state: none: handoff: the previous generation handed over no state", 5*time.Second)
}

func stopAndWait(t *testing.T, s *server, pid int) {
	t.Helper()
	testserver.Terminate(t, pid)
	s.waitLog(fmt.Sprintf("rss: pid=%d peak=", pid), 30*time.Second)
}

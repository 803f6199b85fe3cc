package wsclose_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/wsclose"
)

// The frame is what RFC 6455 says a server's Close frame is: FIN + opcode
// 8, unmasked, the status in network order, then the reason, cut to fit a
// control frame at a UTF-8 boundary.
func TestRestart_WritesAServiceRestartCloseFrame(t *testing.T) {
	var b bytes.Buffer
	if err := wsclose.Restart(&b, "restarting"); err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x88, 12, 0x03, 0xf4}, "restarting"...)
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("frame % x, want % x", b.Bytes(), want)
	}

	b.Reset()
	long := strings.Repeat("é", 100) // 200 bytes: cut to 122, not 123 (mid-rune)
	if err := wsclose.Restart(&b, long); err != nil {
		t.Fatal(err)
	}
	f := b.Bytes()
	if f[1] != 2+122 || len(f) != 4+122 || !strings.HasPrefix(long, string(f[4:])) {
		t.Fatalf("long reason: length byte %d, frame %d bytes", f[1], len(f))
	}
}

//go:build !windows

package handoff

import "testing"

// A link record's meta is read strictly: a version this build does not
// speak, or a field missing, is no link (the frame is refused and the old
// generation keeps its socket).
func TestParseLinkMeta(t *testing.T) {
	for _, tc := range []struct {
		meta string
		want linkRecord
		ok   bool
	}{
		{"quicroute/1 gen=7 addr=127.0.0.1:4433 n=2", linkRecord{gen: 7, addr: "127.0.0.1:4433", n: 2}, true},
		{"quicroute/1 gen=1 addr=[::1]:443 n=1", linkRecord{gen: 1, addr: "[::1]:443", n: 1}, true},
		{"quicroute/2 gen=7 addr=127.0.0.1:4433 n=2", linkRecord{}, false},
		{"quicroute/1 gen=7 addr=127.0.0.1:4433", linkRecord{}, false},
		{"quicroute/1 gen=x addr=127.0.0.1:4433 n=1", linkRecord{}, false},
		{"quicroute/1 gen=4294967296 addr=a n=1", linkRecord{}, false},
		{"quicroute/1 gen=7 addr= n=1", linkRecord{}, false},
		{"quicroute/1 gen=7 addr=a n=0", linkRecord{}, false},
		{"", linkRecord{}, false},
	} {
		got, ok := parseLinkMeta([]byte(tc.meta))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseLinkMeta(%q) = %+v, %v; want %+v, %v", tc.meta, got, ok, tc.want, tc.ok)
		}
	}
}

package takeover

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestIntros_RoundTripAndRefusals(t *testing.T) {
	in := []Intro{
		{Slot: 0, PID: 4242, State: true, Path: "/tmp/handoff-handover-1/s"},
		{Slot: 3, PID: 1 << 31, Path: "/run/x"},
	}
	got, err := DecodeIntros(EncodeIntros(in))
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, in)
	}
	// What cannot be written is left out, not sent broken.
	skipped := EncodeIntros([]Intro{{Slot: 1, PID: 1, Path: "/" + strings.Repeat("a", 300)}, {Slot: 1 << 16, PID: 1, Path: "/a"}, {Slot: 2, PID: 2, Path: "/b"}})
	if got, err := DecodeIntros(skipped); err != nil || len(got) != 1 || got[0].Slot != 2 {
		t.Fatalf("unwritable entries: %+v, %v; want only slot 2", got, err)
	}
	if len(EncodeIntros(make([]Intro, MaxIntros+5))) > MaxIntroSize {
		t.Fatal("a record longer than MaxIntroSize")
	}
	good := EncodeIntros(in)
	flags := append([]byte(nil), good...)
	flags[3+6] = 2
	over := []byte{IntroTag, 0xff, 0xff}
	for name, b := range map[string][]byte{
		"empty": nil, "wrong tag": append([]byte{'l'}, good[1:]...), "cut short": good[:len(good)-1],
		"trailing bytes": append(append([]byte(nil), good...), 0), "undefined flags": flags, "count over the limit": over,
	} {
		if _, err := DecodeIntros(b); !errors.Is(err, ErrIntro) {
			t.Errorf("%s: %v, want ErrIntro", name, err)
		}
	}
}

// Whatever a serving supervisor sends, DecodeIntros neither panics nor
// allocates beyond the record, and a record it accepts is exactly what
// EncodeIntros writes for the entries it returns.
func FuzzDecodeIntros(f *testing.F) {
	f.Add(EncodeIntros([]Intro{{Slot: 0, PID: 4242, State: true, Path: "/tmp/handoff-handover-1/s"}, {Slot: 3, PID: 7, Path: "/x"}}))
	f.Add(EncodeIntros(nil))
	f.Add([]byte{IntroTag, 0, 1, 0, 0, 0, 0, 0, 1, 0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := DecodeIntros(b)
		if err != nil {
			if !errors.Is(err, ErrIntro) {
				t.Fatalf("error %v is not ErrIntro", err)
			}
			return
		}
		if len(got) > MaxIntros {
			t.Fatalf("%d entries", len(got))
		}
		if again := EncodeIntros(got); string(again) != string(b) {
			t.Fatalf("re-encoded %q, decoded from %q", again, b)
		}
	})
}

package proto

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	if err := Check("1"); err != nil {
		t.Fatalf("Check(1) = %v", err)
	}
	for _, v := range []string{"2", "0", "", "one", "1.0"} {
		if err := Check(v); !errors.Is(err, ErrVersion) {
			t.Errorf("Check(%q) = %v, want ErrVersion", v, err)
		}
	}
}

func TestPIDsRoundTrip(t *testing.T) {
	pids := []int{12, 7, 40000}
	s := FormatPIDs(pids)
	if s != "12,7,40000" {
		t.Fatalf("FormatPIDs = %q", s)
	}
	if got := ParsePIDs(s); !slices.Equal(got, pids) {
		t.Fatalf("ParsePIDs(%q) = %v", s, got)
	}
	if got := ParsePIDs(""); got != nil {
		t.Fatalf("ParsePIDs(\"\") = %v, want none", got)
	}
	if got := ParsePIDs("3,x,-1,0,,9"); !slices.Equal(got, []int{3, 9}) {
		t.Fatalf("ParsePIDs skips junk: got %v", got)
	}
}

func TestReadyVersion(t *testing.T) {
	if got := ReadyVersion(); got != ReadyField+"=1" {
		t.Fatalf("ReadyVersion() = %q", got)
	}
	_, v, _ := strings.Cut(ReadyVersion(), "=")
	if err := Check(v); err != nil {
		t.Fatalf("this build refuses its own announcement: %v", err)
	}
}

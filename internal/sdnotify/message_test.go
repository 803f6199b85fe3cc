package sdnotify

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	m, err := Parse([]byte("READY=1\nSTATUS=a=b c\n\nMAINPID=42\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"READY", "1"}, {"STATUS", "a=b c"}, {"MAINPID", "42"}}
	if !slices.Equal(m.Fields, want) {
		t.Fatalf("fields = %q, want %q", m.Fields, want)
	}
	if v, ok := m.Get("STATUS"); !ok || v != "a=b c" {
		t.Fatalf("Get(STATUS) = %q, %v", v, ok)
	}
	if _, ok := m.Get("ERRNO"); ok {
		t.Fatal("Get(ERRNO) found a value")
	}
}

func TestGetLastWins(t *testing.T) {
	m, err := Parse([]byte("STATUS=one\nREADY=1\nSTATUS=two"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := m.Get("STATUS"); v != "two" {
		t.Fatalf("Get(STATUS) = %q, want two", v)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "\n", "\n\n"} {
		m, err := Parse([]byte(in))
		if err != nil || len(m.Fields) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want no fields", in, m, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"READY=1\nSTATUS", "sdnotify: parse: line 2: missing '='"},
		{"ready=1", `sdnotify: parse: line 1: key "ready": invalid character 'r'`},
		{"=1", "sdnotify: parse: line 1: empty key"},
		{"READY =1", `sdnotify: parse: line 1: key "READY ": invalid character ' '`},
		{"READY=1\x00", "sdnotify: parse: NUL byte at offset 7"},
		{"X=" + strings.Repeat("a", MaxSize-1), "sdnotify: parse: 4097 bytes exceeds limit of 4096"},
	}
	for _, tt := range tests {
		m, err := Parse([]byte(tt.in))
		if err == nil {
			t.Errorf("Parse(%q) succeeded", tt.in)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%.20q) error = %q, want %q", tt.in, err, tt.want)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%.20q) error does not match ErrMalformed", tt.in)
		}
		if m.Fields != nil {
			t.Errorf("Parse(%.20q) returned fields with an error", tt.in)
		}
	}
	if _, err := Parse([]byte("X=" + strings.Repeat("a", MaxSize-2))); err != nil {
		t.Errorf("message of exactly MaxSize rejected: %v", err)
	}
}

func TestFormat(t *testing.T) {
	b, err := Format("READY=1", "STATUS=up and running", "MAINPID=7")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "READY=1\nSTATUS=up and running\nMAINPID=7"; got != want {
		t.Fatalf("Format = %q, want %q", got, want)
	}
	for _, bad := range [][]string{
		{},
		{"READY"},
		{"ready=1"},
		{"STATUS=a\nREADY=1"},
		{"STATUS=a\x00"},
		{"STATUS=" + strings.Repeat("x", MaxSize)},
	} {
		if _, err := Format(bad...); !errors.Is(err, ErrMalformed) {
			t.Errorf("Format(%.30q) error = %v, want ErrMalformed", bad, err)
		}
	}
}

// seeds are realistic datagrams as systemd-notify, sd_notify users and
// handoff itself send them, plus near-misses.
var seeds = []string{
	"READY=1",
	"READY=1\nSTATUS=hi",
	"READY=1\nSTATUS=hi\nMAINPID=1234\n",
	"RELOADING=1\nMONOTONIC_USEC=123456789",
	"STOPPING=1",
	"WATCHDOG=1",
	"WATCHDOG_USEC=30000000",
	"EXTEND_TIMEOUT_USEC=5000000",
	"ERRNO=2\nSTATUS=failed: no such file",
	"BARRIER=1",
	"FDSTORE=1\nFDNAME=listener",
	"X_HANDOFF_GENERATION=3\nSTATUS=a=b=c",
	"\n\nREADY=1\n\n",
	"STATUS=\r\n",
	"STATUS=ünïcödé",
	"ready=1",
	"READY",
	"=",
	"READY=1\x00",
}

func FuzzParse(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if m.Fields != nil {
				t.Fatalf("fields returned with error %v", err)
			}
			return
		}
		out := m.Bytes()
		if len(out) > len(b) {
			t.Fatalf("Bytes() grew %q to %q", b, out)
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Bytes()) of %q: %v", b, err)
		}
		if !slices.Equal(m.Fields, m2.Fields) {
			t.Fatalf("round trip of %q: %q != %q", b, m.Fields, m2.Fields)
		}
		if len(m.Fields) == 0 {
			return
		}
		var as []string
		for _, f := range m.Fields {
			as = append(as, f.Key+"="+f.Value)
		}
		fb, err := Format(as...)
		if err != nil {
			t.Fatalf("Format of parsed %q: %v", b, err)
		}
		if string(fb) != string(out) {
			t.Fatalf("Format = %q, Bytes = %q", fb, out)
		}
	})
}

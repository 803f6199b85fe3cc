package activation

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestEnvFormatsNamesInOrder(t *testing.T) {
	env, err := Env([]string{"http", "admin"}, 42)
	if err != nil {
		t.Fatal(err)
	}
	want := "LISTEN_FDS=2 LISTEN_FDNAMES=http:admin LISTEN_PID=42"
	if got := strings.Join(env, " "); got != want {
		t.Fatalf("Env = %q, want %q", got, want)
	}
}

func TestEnvRefusesNamesSystemdRefuses(t *testing.T) {
	for _, name := range []string{"", "a:b", "tab\there", strings.Repeat("x", 256), "é"} {
		if _, err := Env([]string{name}, 0); !errors.Is(err, ErrBadName) {
			t.Errorf("Env(%q) error = %v, want ErrBadName", name, err)
		}
	}
}

func TestCleanDropsProtocolVariables(t *testing.T) {
	in := []string{"PATH=/bin", "LISTEN_FDS=1", "LISTEN_PID=3", "LISTEN_FDNAMES=x", "NOTIFY_SOCKET=/s", "HANDOFF_GENERATION=2", "HOME=/root"}
	got := strings.Join(Clean(in, "HANDOFF_"), " ")
	if got != "PATH=/bin HOME=/root" {
		t.Fatalf("Clean = %q", got)
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"http", "a:b", "", "tcp|127.0.0.1|80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidName(name) != nil {
			return
		}
		// A valid name survives the trip through LISTEN_FDNAMES unchanged.
		env, err := Env([]string{name, name}, 1)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimPrefix(env[1], "LISTEN_FDNAMES="), ":")
		if len(parts) != 2 || parts[0] != name {
			t.Fatalf("name %q did not round-trip: %q", name, env[1])
		}
	})
}

func TestParse(t *testing.T) {
	got, err := Parse("2", "7", "http:admin", 7)
	if err != nil || len(got) != 2 || got[0] != (Passed{3, "http"}) || got[1] != (Passed{4, "admin"}) {
		t.Fatalf("Parse = %v, %v", got, err)
	}
	if got, err := Parse("2", "7", "a", 7); err != nil || got[1].Name != "unknown" {
		t.Fatalf("Parse with one name for two fds = %v, %v", got, err)
	}
	if _, err := Parse("1", "8", "", 7); !errors.Is(err, ErrNotForUs) {
		t.Fatalf("Parse for another pid: err = %v, want ErrNotForUs", err)
	}
	for _, bad := range [][3]string{{"x", "7", ""}, {"-1", "7", ""}, {"1", "0", ""}, {"1", "7", "a:b"}, {"99999999", "7", ""}} {
		if _, err := Parse(bad[0], bad[1], bad[2], 7); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// Issue 12, finding 1: LISTEN_FDS without LISTEN_PID is some other
// process's environment. libsystemd and go-systemd ignore it; so must we.
func TestParse_ListenFDSWithoutListenPIDIsNotForUs(t *testing.T) {
	got, err := Parse("1", "", "", 7)
	if !errors.Is(err, ErrNotForUs) || got != nil {
		t.Fatalf("Parse(LISTEN_FDS=1, no LISTEN_PID) = %v, %v; want nothing and ErrNotForUs", got, err)
	}
	if !strings.Contains(err.Error(), "without LISTEN_PID") {
		t.Fatalf("error %q does not say LISTEN_PID is missing", err)
	}
	// Not ours whatever it holds: a corrupt count in another process's
	// environment is not this process's error.
	if _, err := Parse("999999", "", "", 7); !errors.Is(err, ErrNotForUs) {
		t.Fatalf("Parse(LISTEN_FDS=999999, no LISTEN_PID): %v, want ErrNotForUs", err)
	}
	if _, err := Parse("999999", "7", "", 7); err == nil || errors.Is(err, ErrNotForUs) {
		t.Fatalf("Parse(LISTEN_FDS=999999, our pid): %v, want a refusal of the count", err)
	}
	// Nothing announced is not an error, with or without LISTEN_PID.
	if got, err := Parse("", "", "", 7); got != nil || err != nil {
		t.Fatalf("Parse of nothing = %v, %v", got, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("2", "7", "http:admin")
	f.Add("1", "", "")
	f.Add("3", "7", "::")
	f.Add("1", "8", "x")
	f.Add("999999", "7", "")
	f.Add("2", "07", "tcp|127.0.0.1|80:unix|/run/a.sock")
	f.Fuzz(func(t *testing.T, fds, pid, names string) {
		got, err := Parse(fds, pid, names, 7)
		if err != nil {
			if got != nil {
				t.Fatalf("Parse(%q, %q, %q) returned fds with error %v", fds, pid, names, err)
			}
			return
		}
		if fds == "" {
			if got != nil {
				t.Fatalf("fds announced by an empty LISTEN_FDS: %v", got)
			}
			return
		}
		// Only fds announced for this very process are taken.
		if p, perr := strconv.Atoi(pid); perr != nil || p != 7 {
			t.Fatalf("Parse(%q, %q, %q) accepted LISTEN_PID %q for pid 7", fds, pid, names, pid)
		}
		if n, _ := strconv.Atoi(fds); len(got) != n || n > MaxFDs {
			t.Fatalf("Parse(%q, ...) returned %d fds", fds, len(got))
		}
		for i, p := range got {
			if p.FD != FirstFD+i || p.Name == "" {
				t.Fatalf("Parse(%q, %q, %q)[%d] = %+v", fds, pid, names, i, p)
			}
			_ = Expect(p.Name) // any name has a kind, never a panic
		}
	})
}

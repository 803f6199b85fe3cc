//go:build unix

package supervisor

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseListen(t *testing.T) {
	good := map[string]ListenSpec{
		"http=tcp://127.0.0.1:8080":  {"http", "tcp", "127.0.0.1:8080"},
		"v6=tcp6://[::1]:0":          {"v6", "tcp6", "[::1]:0"},
		"dns=udp://127.0.0.1:5353":   {"dns", "udp", "127.0.0.1:5353"},
		"admin=unix:///run/app.sock": {"admin", "unix", "/run/app.sock"},
		"log=unixgram:///run/l.sock": {"log", "unixgram", "/run/l.sock"},
	}
	for in, want := range good {
		got, err := ParseListen(in)
		if err != nil || got != want {
			t.Errorf("ParseListen(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "http", "=tcp://1.2.3.4:5", "http=tcp://1.2.3.4", "http=sctp://1.2.3.4:5",
		"a:b=tcp://1.2.3.4:5", "x=unix://rel.sock", "x=tcp://1.2.3.4:5/path", "x=unix:///"} {
		if _, err := ParseListen(in); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseListen(%q) error = %v, want ErrConfig", in, err)
		}
	}
}

func TestParseReadiness(t *testing.T) {
	if r, err := ParseReadiness("delay:2s"); err != nil || r.Kind != ReadyDelay || r.Delay != 2*time.Second {
		t.Errorf("delay:2s = %+v, %v", r, err)
	}
	if r, err := ParseReadiness("exec:test -e /tmp/x:y"); err != nil || r.Command != "test -e /tmp/x:y" {
		t.Errorf("exec = %+v, %v", r, err)
	}
	for _, bad := range []string{"tcp", "http", "delay:", "delay:-1s", "exec:", "notify:x", "soon"} {
		if _, err := ParseReadiness(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseReadiness(%q) error = %v", bad, err)
		}
	}
}

func TestBindRefusesAPortInUse(t *testing.T) {
	b, err := bind(ListenSpec{"http", "tcp", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	_, err = bind(ListenSpec{"again", "tcp", b.desc[len("tcp://"):]})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("second bind of %s: %v", b.desc, err)
	}
}

func TestLineageOfSelfAndStranger(t *testing.T) {
	if checkLineage(os.Getpid(), os.Getpid()) != lineageYes {
		t.Error("a process is not its own lineage")
	}
	if got := checkLineage(os.Getpid(), 999999999); got == lineageYes {
		t.Error("this test process counted as a descendant of a pid that does not exist")
	}
}

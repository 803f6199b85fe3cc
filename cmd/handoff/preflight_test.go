//go:build unix

package main

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/handoff-go/handoff/internal/control"
	"github.com/handoff-go/handoff/internal/preflight"
	"github.com/handoff-go/handoff/internal/testserver"
)

// otherArchELF is a 64-bit ELF header for a machine that is not this one.
func otherArchELF() []byte {
	m := elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		m = elf.EM_X86_64
	}
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS], h[elf.EI_DATA], h[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(m))
	binary.LittleEndian.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	binary.LittleEndian.PutUint16(h[52:], 64)
	return h
}

// Every refusal of the pre-flight checks has its own exit status, says
// why, and leaves the serving worker serving: no process was started.
func TestPreflightRefusals_EachItsExitCode_ServingPIDUnchanged(t *testing.T) {
	app := appCopy(t)
	sum, err := preflight.SHA256(bin.hello)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "config-is-bad")
	check := `if [ -e ` + bad + ` ]; then echo "config line 7: unknown directive"; exit 1; fi; test -x "$HANDOFF_PROGRAM"`
	s := startSup(t, append([]string{"--check", check, "--verify-sha256", sum}, fastFlags...), app, "-addr", "ADDR", "-drain-idle", "200ms")
	l := startLoad(t, s.addr, 4)
	l.waitRequests(t, 20)
	serving := onlyServingPID(t, s)

	cases := []struct {
		name    string
		prepare func()
		code    int
		want    string
	}{
		{"missing", func() { os.Remove(app) }, control.ExitMissing, "program not found"},
		{"not executable", func() { os.WriteFile(app, []byte("#!/bin/sh\n"), 0o644) }, control.ExitNotExecutable, "not executable"},
		{"other architecture", func() { testserver.WriteExecutable(t, app, otherArchELF()) }, control.ExitWrongArch, "not built for this machine"},
		{"wrong hash", func() { testserver.WriteExecutable(t, app, []byte("#!/bin/sh\nexec "+bin.hello+" \"$@\"\n")) }, control.ExitChecksum, "sha-256 mismatch"},
		{"failing check", func() { testserver.Replace(t, bin.hello, app); os.WriteFile(bad, nil, 0o644) }, control.ExitCheckFailed, "config line 7: unknown directive"},
	}
	for _, c := range cases {
		c.prepare()
		out, code := s.upgrade(t)
		if code != c.code {
			t.Errorf("%s: upgrade exit %d, want %d:\n%s", c.name, code, c.code, out)
		}
		if !strings.Contains(out, c.want) || !strings.Contains(out, "still serving") {
			t.Errorf("%s: upgrade output lacks %q or \"still serving\":\n%s", c.name, c.want, out)
		}
		st, err := s.status()
		if err != nil {
			t.Fatal(err)
		}
		if got := servingPIDs(st); len(got) != 1 || got[0] != serving {
			t.Errorf("%s: serving pids %v, want [%d]", c.name, got, serving)
		}
		if len(st.Generations) != 1 {
			t.Errorf("%s: %d generations after a refusal, want 1: %+v", c.name, len(st.Generations), st.Generations)
		}
		t.Logf("%s: exit %d: %s", c.name, code, lastLine(out))
	}
	os.Remove(bad)
	if out, code := s.upgrade(t); code != 0 {
		t.Fatalf("upgrade after the refusals: exit %d:\n%s", code, out)
	}
	if got := onlyServingPID(t, s); got == serving {
		t.Fatalf("the upgrade that passed its checks did not start a new worker")
	}
	l.waitRequests(t, 20)
	l.done(t)
	s.stopClean(t)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

package preflight

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func self(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// elfHeader is a minimal 64-bit little-endian ELF header declaring machine.
func elfHeader(machine elf.Machine) []byte {
	h := make([]byte, 64)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.LittleEndian.PutUint16(h[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(h[18:], uint16(machine))
	binary.LittleEndian.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	binary.LittleEndian.PutUint16(h[52:], 64) // e_ehsize
	return h
}

func write(t *testing.T, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProgram_TheRunningBinaryPasses(t *testing.T) {
	exe := self(t)
	sum, err := Program(exe, "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := SHA256(exe)
	if sum != want || len(sum) != 64 {
		t.Fatalf("sum %q, want %q", sum, want)
	}
	if _, err := Program(exe, strings.ToUpper(sum)); err != nil {
		t.Fatalf("pinned to its own hash: %v", err)
	}
}

func TestProgram_EachRefusalHasItsReason(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no execute bits")
	}
	other := elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		other = elf.EM_X86_64
	}
	script := write(t, "script", []byte("#!/bin/sh\nexit 0\n"), 0o755)
	zero := strings.Repeat("0", 64)
	cases := []struct {
		name, path, sha string
		want            error
		reason          string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), "", ErrMissing, "missing"},
		{"directory", t.TempDir(), "", ErrNotRegular, "not_regular"},
		{"not executable", write(t, "plain", []byte("#!/bin/sh\n"), 0o644), "", ErrNotExecutable, "not_executable"},
		{"other architecture", write(t, "arm", elfHeader(other), 0o755), "", ErrWrongArch, "wrong_arch"},
		{"no format", write(t, "text", []byte("hello world\n"), 0o755), "", ErrWrongArch, "wrong_arch"},
		{"wrong hash", script, zero, ErrChecksum, "checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Program(c.path, c.sha)
			if !errors.Is(err, c.want) {
				t.Fatalf("Program(%s) = %v, want %v", c.path, err, c.want)
			}
			if r := Reason(err); r != c.reason {
				t.Fatalf("Reason = %q, want %q", r, c.reason)
			}
			t.Logf("refused: %v", err)
		})
	}
	if _, err := Program(script, ""); err != nil {
		t.Fatalf("a #! script: %v", err)
	}
	if os.Getuid() == 0 {
		t.Log("as root: the not-executable case relies on the mode bits")
	}
}

func TestProgram_ThisArchELFHeaderPasses(t *testing.T) {
	m, ok := elfMachines[runtime.GOARCH]
	if !ok || runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		t.Skip("not an ELF system with a known machine")
	}
	p := write(t, "native", elfHeader(m), 0o755)
	if _, err := Program(p, ""); err != nil {
		t.Fatal(err)
	}
}

func TestProgram_HashOfWhatIsRead(t *testing.T) {
	body := []byte("#!/bin/sh\necho hi\n")
	p := write(t, "s", body, 0o755)
	s := sha256.Sum256(body)
	if _, err := Program(p, hex.EncodeToString(s[:])); err != nil {
		t.Fatal(err)
	}
}

func TestCommand_ExitZeroPassesAndSeesTheProgram(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh")
	}
	out, err := Command(context.Background(), `test "$HANDOFF_PROGRAM" = /srv/app && echo ok`, "/srv/app", nil, 10*time.Second)
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("out %q, err %v", out, err)
	}
}

func TestCommand_FailureCarriesItsOutput(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh")
	}
	_, err := Command(context.Background(), `echo "config line 3: bad"; exit 3`, "/srv/app", nil, 10*time.Second)
	if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), "config line 3: bad") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err %v", err)
	}
}

func TestCommand_BoundedInTimeAndOutput(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sh")
	}
	start := time.Now()
	_, err := Command(context.Background(), `head -c 100000 /dev/zero | tr '\0' x; exec sleep 30`, "/srv/app", nil, 300*time.Millisecond)
	took := time.Since(start)
	if !errors.Is(err, ErrCheckFailed) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err %v", err)
	}
	if len(err.Error()) > maxOutput+512 {
		t.Fatalf("refusal is %d bytes: output not bounded", len(err.Error()))
	}
	if took > 10*time.Second {
		t.Fatalf("a 300ms check took %v", took)
	}
	t.Logf("timed-out check returned after %v", took)
}

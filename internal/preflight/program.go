package preflight

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// Program checks the file at path: it exists, is a regular file, is
// executable by this process, and is a #! script or a binary for this
// machine's architecture. When wantSHA256 is not empty (hex, either case)
// the file's SHA-256 must equal it. It returns the file's SHA-256 (hex)
// whenever it could read the file, refused or not, so a caller can report
// what it saw.
//
// path may be a /proc/self/fd/N name of a file held open, so the bytes
// checked are the bytes that will be exec'd even if the path on disk is
// replaced meanwhile.
func Program(path, wantSHA256 string) (sum string, err error) {
	return ProgramAt(path, path, wantSHA256)
}

// ProgramAt is Program for a file opened as path and named name in
// errors: a /proc/self/fd/N path is exact but means nothing to a reader.
func ProgramAt(path, name, wantSHA256 string) (sum string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("preflight %s: %w: %v", name, ErrMissing, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("preflight %s: %w (%s)", name, ErrNotRegular, fi.Mode().Type())
	}
	if err := executable(path, fi); err != nil {
		return "", fmt.Errorf("preflight %s: %w: %v", name, ErrNotExecutable, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("preflight %s: %w: %v", name, ErrNotExecutable, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("preflight %s: read: %w: %v", name, ErrNotExecutable, err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if err := native(f); err != nil {
		return sum, fmt.Errorf("preflight %s: %w: %v", name, ErrWrongArch, err)
	}
	if want := strings.ToLower(strings.TrimSpace(wantSHA256)); want != "" && want != sum {
		return sum, fmt.Errorf("preflight %s: %w: sha-256 is %s, want %s", name, ErrChecksum, sum, want)
	}
	return sum, nil
}

// SHA256 returns the hex SHA-256 of the file at path.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("sha-256 of %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha-256 of %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// elfMachines maps GOARCH to the ELF machine a binary for it declares.
var elfMachines = map[string]elf.Machine{
	"386":      elf.EM_386,
	"amd64":    elf.EM_X86_64,
	"arm":      elf.EM_ARM,
	"arm64":    elf.EM_AARCH64,
	"loong64":  elf.EM_LOONGARCH,
	"mips":     elf.EM_MIPS,
	"mipsle":   elf.EM_MIPS,
	"mips64":   elf.EM_MIPS,
	"mips64le": elf.EM_MIPS,
	"ppc64":    elf.EM_PPC64,
	"ppc64le":  elf.EM_PPC64,
	"riscv64":  elf.EM_RISCV,
	"s390x":    elf.EM_S390,
}

var machoCPUs = map[string]macho.Cpu{
	"amd64": macho.CpuAmd64,
	"arm64": macho.CpuArm64,
}

// native reports why f cannot run on this machine, or nil.
func native(f *os.File) error {
	var magic [4]byte
	if n, _ := f.ReadAt(magic[:], 0); n < 2 {
		return errors.New("empty or too short to be a program")
	}
	if bytes.HasPrefix(magic[:], []byte("#!")) {
		return nil // the kernel finds the interpreter; it is checked when it runs
	}
	if bytes.Equal(magic[:], []byte(elf.ELFMAG)) {
		ef, err := elf.NewFile(f)
		if err != nil {
			return fmt.Errorf("bad ELF header: %v", err)
		}
		want, known := elfMachines[runtime.GOARCH]
		if known && ef.Machine != want {
			return fmt.Errorf("ELF for %s, this machine is %s (%s)", ef.Machine, want, runtime.GOARCH)
		}
		if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
			return fmt.Errorf("ELF binary on %s", runtime.GOOS)
		}
		return nil
	}
	if mf, err := macho.NewFile(f); err == nil {
		want, known := machoCPUs[runtime.GOARCH]
		if runtime.GOOS != "darwin" && runtime.GOOS != "ios" {
			return fmt.Errorf("Mach-O binary on %s", runtime.GOOS)
		}
		if known && mf.Cpu != want {
			return fmt.Errorf("Mach-O for %s, this machine is %s", mf.Cpu, want)
		}
		return nil
	}
	if _, err := macho.NewFatFile(f); err == nil {
		if runtime.GOOS != "darwin" && runtime.GOOS != "ios" {
			return fmt.Errorf("Mach-O universal binary on %s", runtime.GOOS)
		}
		return nil // the kernel picks the slice
	}
	if runtime.GOOS == "windows" {
		return nil // PE images are Windows' business; the supervisor does not run there
	}
	return fmt.Errorf("neither a #! script nor a binary (starts with %q)", magic[:])
}

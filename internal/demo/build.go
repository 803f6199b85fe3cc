package demo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// modulePath is the module the demo builds its binaries from.
const modulePath = "github.com/handoff-go/handoff"

// moduleRoot finds the handoff module's source from the working directory,
// as `go build` would: `go env GOMOD` names the go.mod in effect.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go env GOMOD: %w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("go env GOMOD: %w (the demo builds examples/hello with the Go toolchain)", err)
	}
	gomod := strings.TrimSpace(string(out))
	notHere := fmt.Errorf("not inside the handoff module (%s): run the demo from a clone of %s, or pass -bin DIR with prebuilt handoff and hello", modulePath, modulePath)
	if gomod == "" || gomod == os.DevNull {
		return "", notHere
	}
	f, err := os.Open(gomod)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", gomod, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			if strings.Trim(fields[1], `"`) != modulePath {
				return "", fmt.Errorf("%s is module %s: %w", gomod, fields[1], notHere)
			}
			return filepath.Dir(gomod), nil
		}
	}
	return "", fmt.Errorf("%s names no module: %w", gomod, notHere)
}

// buildDemo builds the given main packages of the handoff module (paths
// relative to its root, e.g. "./examples/hello") into dir, in one `go build`
// so that they compile in parallel.
func buildDemo(dir string, pkgs ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

//go:build !windows

package handoff_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/handoff-go/handoff"
)

// An upgrade to a program that is not there fails with ErrUpgradeFailed,
// and the cause stays visible: errors.Is(err, fs.ErrNotExist).
func TestUpgradeToMissingBinary_IsNotExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	h, err := handoff.New(handoff.Options{NoSignals: true, Command: func() (string, []string, error) {
		if _, err := os.Stat(missing); err != nil {
			return "", nil, err
		}
		return missing, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	if err := h.Ready(); err != nil {
		t.Fatal(err)
	}
	err = h.Upgrade()
	if !errors.Is(err, handoff.ErrUpgradeFailed) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Upgrade: %v, want ErrUpgradeFailed and fs.ErrNotExist", err)
	}
	if p, _ := h.Phase(); p != handoff.PhaseServing {
		t.Fatalf("phase after the failed upgrade: %s", p)
	}
}

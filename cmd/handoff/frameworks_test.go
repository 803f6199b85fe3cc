//go:build unix

package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// The servers people run under a supervisor, with the settings or hooks
// docs/WORKERS.md gives (examples/python/frameworks.py). Each skips, saying
// so, where its package is not installed: then WORKERS.md's claim for it is
// unmeasured on that machine.

func requireModule(t *testing.T, py, module string) {
	t.Helper()
	if err := exec.Command(py, "-c", "import "+module).Run(); err != nil {
		t.Skipf("%s is not installed for %s: docs/WORKERS.md's %s settings are unmeasured here", module, py, module)
	}
}

func frameworksDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../examples/python")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// gunicorn (gthread, as issue 15 measured it: 47 requests reset over 3
// upgrades with its defaults) with keep-alive off, so its graceful stop has
// no idle keep-alive connection to close under a client.
func TestGunicornUnderRun_20UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	py := python(t)
	requireModule(t, py, "gunicorn")
	upgradesUnderLoad(t, "gunicorn", 20, 8, py, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8",
		"--keep-alive", "0", "--graceful-timeout", "8", "--chdir", frameworksDir(t), "frameworks:wsgi")
}

// uvicorn on the inherited socket (--fd 3), with the app's two hooks:
// READY=1 at startup, Connection: close on every response.
func TestUvicornUnderRun_20UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	py := python(t)
	requireModule(t, py, "uvicorn")
	upgradesUnderLoad(t, "uvicorn", 20, 8, py, "-m", "uvicorn", "--fd", "3", "--lifespan", "on",
		"--timeout-graceful-shutdown", "8", "--app-dir", frameworksDir(t), "frameworks:asgi")
}

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

// pythonWith returns a python3 that can import module: the one on PATH,
// or the system's (/usr/bin/python3, where Debian's packages go, when PATH
// leads to another installation first). It skips the test when neither can.
func pythonWith(t *testing.T, module string) string {
	t.Helper()
	candidates := []string{python(t), "/usr/bin/python3"}
	for _, py := range candidates {
		if exec.Command(py, "-c", "import "+module).Run() == nil {
			return py
		}
	}
	t.Skipf("%s is not installed for %v: docs/WORKERS.md's %s settings are unmeasured here", module, candidates, module)
	return ""
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
	py := pythonWith(t, "gunicorn")
	upgradesUnderLoad(t, "gunicorn", 20, 8, py, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8",
		"--keep-alive", "0", "--graceful-timeout", "8", "--chdir", frameworksDir(t), "frameworks:wsgi")
}

// uvicorn on the inherited socket (--fd 3), with the app's two hooks:
// READY=1 at startup, Connection: close on every response. No
// --timeout-graceful-shutdown: Debian's 0.17 has none (it came in 0.18);
// the supervisor's drain timeout bounds the stop.
func TestUvicornUnderRun_20UpgradesUnderLoad_NoFailedRequests(t *testing.T) {
	py := pythonWith(t, "uvicorn")
	upgradesUnderLoad(t, "uvicorn", 20, 8, py, "-m", "uvicorn", "--fd", "3", "--lifespan", "on",
		"--app-dir", frameworksDir(t), "frameworks:asgi")
}

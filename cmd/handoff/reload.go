//go:build !windows

package main

import (
	"io"

	"github.com/handoff-go/handoff/internal/control"
)

func init() {
	register(&command{
		Name:    "reload",
		Summary: "start the bytes that serve again, so the program re-reads its configuration (upgrade takes the program from disk)",
		Run:     reloadCmd,
	})
}

// refusalCodes documents the pre-flight exit statuses of upgrade and reload.
const refusalCodes = `
Refused by the pre-flight checks (nothing was started, the serving generation
serves on): 5 the program does not exist; 6 it is not a regular file; 7 it is
not executable; 8 it is not a binary for this machine nor a #! script; 9 its
SHA-256 is not --verify-sha256; 10 the --check command failed (its output is
printed); 11 (reload only) the bytes that serve cannot be started again: off
Linux the file on disk changed since that generation started.`

const reloadSynopsis = `reload [--control SOCK] [--json]

Starts a new generation of the exact program that serves now, so it re-reads
its configuration, without picking up a binary that is being deployed: on
Linux the supervisor holds every generation's bytes open and starts those
(as a rollback does); on other systems it starts the file at the same path,
and refuses (exit 11) if that file's SHA-256 changed since. The --check
command runs first, as before an upgrade. The new generation then goes
through readiness, drain and probation as an upgrade does. If an upgrade is
already running, this call joins it (its new processes read the
configuration too). 'handoff upgrade' instead looks the program up on disk.

Exit status: as 'handoff upgrade': 0 the new generation serves; 1 it failed
and the previous generation still serves; 2 bad flags or no supervisor
reachable; 3 rolled back; 4 the connection broke before the outcome.
` + refusalCodes

func reloadCmd(args []string, stdout, stderr io.Writer) int {
	return streamCmd("reload", reloadSynopsis, (*control.Client).Reload, args, stdout, stderr)
}

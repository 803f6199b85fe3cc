// Package preflight decides, before a supervisor asks the generation that
// serves to let go, whether a new program can start at all: like `nginx -t`,
// a refusal here leaves the serving generation untouched.
//
// Two kinds of check run, in this order:
//
//   - Program (program.go): the file exists, is a regular file, is
//     executable, is built for this machine (an ELF, or on macOS a Mach-O,
//     whose machine is runtime.GOARCH) or is a #! script, and, when a
//     digest is pinned, its SHA-256 matches.
//   - Command (command.go): an operator's command (`--check CMD`, run by
//     /bin/sh -c) exits 0 within a time limit. It finds the program in
//     $HANDOFF_PROGRAM; its output (bounded) is part of the refusal.
//
// Every refusal wraps one of the exported sentinels, so a caller maps it to
// an exit status with errors.Is (see Reason). The package has no state and
// starts nothing but the check command.
package preflight

package testserver

import (
	"os"
	"os/exec"
	"testing"
)

// StartPiped starts cmd with its stderr on a pipe of the test's own and
// returns the pipe's read end, for the caller to read until EOF and close.
// Not exec's pipe (cmd.Stderr set to a buffer, or StderrPipe): cmd.Wait
// would wait for every writer of that one to close it, or close it when
// the first process exits, and the generations a server starts by
// self-upgrade hold its stderr long after it exited.
func StartPiped(t testing.TB, cmd *exec.Cmd) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	return r
}

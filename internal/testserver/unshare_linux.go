package testserver

import (
	"os/exec"
	"testing"
)

// UnshareOrSkip returns the command prefix that runs a program in a mount
// and pid namespace of its own (pid 1 there; killed with the wrapper), or
// skips t where unshare(1) may not do that.
func UnshareOrSkip(t testing.TB) []string {
	t.Helper()
	wrap := []string{"unshare", "--mount", "--pid", "--fork", "--kill-child"}
	if out, err := exec.Command(wrap[0], append(wrap[1:], "true")...).CombinedOutput(); err != nil {
		t.Skipf("unshare --mount --pid is not permitted here: %v: %s", err, out)
	}
	return wrap
}

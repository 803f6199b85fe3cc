package preflight

import "errors"

// Refusals. Each error the package returns wraps exactly one of them.
var (
	// ErrMissing: the program does not exist (or is not found in $PATH).
	ErrMissing = errors.New("program not found")
	// ErrNotRegular: the path names a directory, device, socket or pipe.
	ErrNotRegular = errors.New("program is not a regular file")
	// ErrNotExecutable: no execute permission for this process.
	ErrNotExecutable = errors.New("program is not executable")
	// ErrWrongArch: neither a #! script nor a binary for this machine
	// (another architecture, another binary format, or no format at all).
	ErrWrongArch = errors.New("program is not built for this machine")
	// ErrChecksum: the SHA-256 of the program differs from the pinned one.
	ErrChecksum = errors.New("program sha-256 mismatch")
	// ErrCheckFailed: the check command exited non-zero, was killed, timed
	// out, or could not be started.
	ErrCheckFailed = errors.New("check command failed")
)

// Reason names the refusal err wraps, for logs, events and metrics labels:
// "missing", "not_regular", "not_executable", "wrong_arch", "checksum",
// "check_failed"; "" when err wraps none of them.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return ""
}

var reasons = []struct {
	err  error
	name string
}{
	{ErrMissing, "missing"},
	{ErrNotRegular, "not_regular"},
	{ErrNotExecutable, "not_executable"},
	{ErrWrongArch, "wrong_arch"},
	{ErrChecksum, "checksum"},
	{ErrCheckFailed, "check_failed"},
}

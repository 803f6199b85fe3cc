package serverflags

import (
	"log/slog"
	"os"
)

// Logger is the logger behind an example's -v flag: text on stderr, every
// line tagged with this process's pid so that the lines of two generations
// can be told apart; with verbose false, one that discards everything.
func Logger(verbose bool) *slog.Logger {
	if !verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())
}

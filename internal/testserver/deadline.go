package testserver

import (
	"context"
	"testing"
	"time"
)

// Deadline is a context that ends after d or with the test, whichever
// comes first: the bound of a test's waits.
func Deadline(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

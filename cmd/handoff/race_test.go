//go:build race

package main

// raceEnabled makes TestMain build the handoff binary with -race too, so
// `go test -race` checks the supervisor, not only the test's own code.
const raceEnabled = true

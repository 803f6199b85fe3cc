package main

import (
	"fmt"
	"io"

	"github.com/handoff-go/handoff/internal/proto"
)

// version is this build's version, set at build time:
// go build -ldflags "-X main.version=v1.2.3". `handoff status` shows it.
var version = "dev"

// hiddenCommands are run by handoff itself, never listed in the usage:
// `handoff internal-state-version` prints the supervisor state version
// this binary reads, the pre-flight a supervisor runs on the binary it is
// about to re-execute (`handoff upgrade --self`).
var hiddenCommands = map[string]*command{
	proto.StateVersionCommand: {
		Name: proto.StateVersionCommand,
		Run: func(args []string, stdout, stderr io.Writer) int {
			fmt.Fprintln(stdout, proto.SupervisorStateVersion)
			return exitOK
		},
	},
}

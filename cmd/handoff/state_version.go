//go:build !windows

package main

import (
	"fmt"
	"io"

	"github.com/handoff-go/handoff/internal/proto"
)

// version is this build's version, set at build time:
// go build -ldflags "-X main.version=v1.2.3". `handoff status` shows it.
var version = "dev"

func init() {
	register(&command{
		Name:    proto.StateVersionCommand,
		Summary: "print the supervisor state version this binary reads (the pre-flight of `handoff upgrade --self`)",
		Hidden:  true,
		Run: func(args []string, stdout, stderr io.Writer) int {
			fmt.Fprintln(stdout, proto.SupervisorStateVersion)
			return exitOK
		},
	})
}

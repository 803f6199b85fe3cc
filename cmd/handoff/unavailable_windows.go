package main

import (
	"fmt"
	"io"
)

// On Windows there is no supervisor (it needs fd inheritance, signals and
// SCM_RIGHTS): run, upgrade, status and stop exist, so that usage and help
// read the same everywhere, and say so plainly. demo and bench work.
func init() {
	for name, summary := range map[string]string{
		"run":     "run PROGRAM under a supervisor (not available on windows)",
		"upgrade": "upgrade a running supervisor's program (not available on windows)",
		"status":  "show a supervisor's generations and workers (not available on windows)",
		"stop":    "drain a supervisor's workers and make it exit (not available on windows)",
		"reload":  "start the bytes that serve again (not available on windows)",
		"metrics": "print a supervisor's metrics (not available on windows)",
	} {
		register(&command{Name: name, Summary: summary, Run: func(args []string, stdout, stderr io.Writer) int {
			fmt.Fprintf(stderr, "handoff %s: the supervisor is not available on windows\n", name)
			return exitFail
		}})
	}
}

module github.com/handoff-go/handoff

go 1.26.8

require golang.org/x/sys v0.49.0

require go.uber.org/goleak v1.3.0

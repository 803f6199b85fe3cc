package handoff

// NewPlain returns a Handoff with no links to other generations: the code
// path the Windows build always takes, for the tests to drive on Linux.
var NewPlain = newPlain

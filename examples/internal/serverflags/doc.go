// Package serverflags is the command-line plumbing the example servers
// share: the -v logger, and the flags with which examples/hello (and h2c,
// which is hello over HTTP/2) fill handoff.Options. It is kept out of each
// example's main.go so that main.go shows what is that example's own. It is
// no API of handoff: a program builds handoff.Options however it likes.
package serverflags

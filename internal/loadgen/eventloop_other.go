//go:build !linux

package loadgen

// startEventLoops reports that no event loop runs here: the busy clients
// use the goroutine engine, whose net.Conns work on every platform.
func (g *Generator) startEventLoops() bool { return false }

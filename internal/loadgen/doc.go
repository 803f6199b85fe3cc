// Package loadgen drives real HTTP/1.1 load at a server while it is being
// restarted or upgraded, and counts every request that fails.
//
// handoff promises "no failed request, ever, across an upgrade"; this package
// is how that promise is checked. It therefore never retries anything: Go's
// http.Transport silently re-sends an idempotent request when a reused
// keep-alive connection turns out to be closed, which is exactly the failure a
// real client (or a POST) would see and we must count. Instead the package
// speaks HTTP/1.1 over raw sockets and classifies each request's fate
// ([Outcome]).
//
// Two engines send the requests (engine.go). On Linux, when the URL names an
// IP address, event loops drive the busy clients: a goroutine per loop, many
// non-blocking sockets on one epoll instance, one write and usually one read
// per request, like wrk (eventloop_linux.go); it is what lets the load
// generator keep up with wrk against the same server. Elsewhere, and for held
// connections, each client is a goroutine with a net.Conn (client.go). Both
// build the same request bytes, parse responses with the same code
// (response.go, response_feed.go) and judge them the same way.
//
// One subtlety decides whether the numbers are honest: a keep-alive connection
// that the server closed while it sat idle, and whose close we notice before
// writing the next request, costs a real client nothing — it reconnects. A
// request that was written and then answered by EOF or a reset did fail. Both
// engines tell the two apart with a zero-wait peek before reusing a
// connection; a close that races the write is counted, never hidden.
//
// Use [Generator] directly ([New], [Generator.Start], [Generator.Mark],
// [Generator.MarkDone], [Generator.Stop]) when the caller drives upgrades
// itself, or [RunWithUpgrades] to start load, trigger N upgrades every D and
// produce a [Report].
package loadgen

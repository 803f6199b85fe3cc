package loadgen

// Two engines drive the busy clients (held connections always use the
// goroutine engine: they are idle nearly all the time, and a goroutine
// blocked in a read is the simplest close detector there is).
//
//   - The goroutine engine (client.go, runBusy): one goroutine per client,
//     blocking net.Conn calls. Every request then costs a netpoller park and
//     wake-up, which kept the load generator below wrk against the same
//     server.
//   - The event loop (eventloop_linux.go): a few goroutines, each driving
//     many non-blocking sockets through its own epoll instance, one write
//     and (usually) one read per request, like wrk. It is the default on
//     Linux when the URL's host is an IP address.
//
// Both share the request bytes (client.next), the response parsers
// (response.go, response_feed.go), the verdict on a response (client.judge)
// and on an error (result.failWith, classify), and the recorder, so a
// request comes out the same whichever engine sent it.

// engineKind selects an engine for the busy clients.
type engineKind uint8

const (
	// engineAuto: the event loop where it is available, else goroutines.
	engineAuto engineKind = iota
	// engineGoroutines: one goroutine per client, everywhere.
	engineGoroutines
)

// waker is an event loop as the generator sees it: something that must be
// woken when the run stops or is aborted, since it may be blocked waiting
// for sockets that will stay quiet.
type waker interface{ wake() }
